from django.urls import path

from . import views

app_name = "credits"

urlpatterns = [
    path("topup-credits", views.topup_credits, name="topup-credits"),
    path("credits", views.credits_balance, name="credits"),
]

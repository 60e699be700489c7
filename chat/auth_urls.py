from django.urls import path

from . import magic

app_name = "magic"

urlpatterns = [
    path("magic-link", magic.create, name="create"),
    path("magic-link/<str:secret>", magic.login_by_link, name="login"),
]

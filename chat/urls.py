from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("new", views.new, name="new"),
    path("messages", views.send, name="send-new"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("c/<int:pk>/messages", views.send, name="send"),
    path("c/<int:pk>/messages/<int:message_id>/continue", views.continue_task, name="continue"),
]

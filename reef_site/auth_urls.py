from django.urls import path

from . import magic

app_name = "magic"

urlpatterns = [
    path("magic-link", magic.create, name="create"),
    # The link: a page with a "Log in" button (GET spends nothing) ...
    path("magic-link/<str:secret>", magic.login_by_link, name="login"),
    # ... which posts the secret here (in the body, not the address) to spend it and log in.
    path("log-in-by-link", magic.log_in, name="log-in"),
]

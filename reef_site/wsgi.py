import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reef_site.settings")
# Served by WSGI: the credits API's sync views (settings.CREDITS["ASYNC_VIEWS"]), so no request
# starts an event loop. Under ASGI (asgi.py) the async views wait on the landing without a thread.
os.environ["REEF_SERVER"] = "wsgi"
application = get_wsgi_application()

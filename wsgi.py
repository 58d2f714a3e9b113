"""The WSGI entry point: the one module-level app (Zappa's app_function is wsgi.app)."""

from tradeapp import create_app

app = create_app()

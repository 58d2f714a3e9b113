"""The HTTP adapter: flask-smorest blueprints over the services."""

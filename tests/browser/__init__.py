"""Browser tests: Swagger UI in headless Chromium against a real HTTP server."""

"""The HTTP server: app factory, fast path, routes, codec, validation, errors."""

from canaria_serving.server.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]

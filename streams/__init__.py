"""The streaming layer: Faust app factory, topics, wiring of clients, thin agents and web views.

Nothing here runs at import; ``create_app(settings)`` builds everything."""

from streams.app import create_app

__all__ = ["create_app"]

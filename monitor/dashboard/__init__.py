"""The web dashboard: overview, drift, alerts and experiments pages over the store's query catalogue.

Served at ``/`` by the worker that owns the store (``streams.web``) and by ``monitor ui`` on loopback
(``monitor.dashboard.server``). Pages are rendered on the server with inline SVG; the only script
(``static/dashboard.js``) refreshes the page while data arrives.
"""

from __future__ import annotations

from monitor.dashboard.filters import Filters
from monitor.dashboard.server import dashboard_routes

__all__ = ["Filters", "dashboard_routes"]

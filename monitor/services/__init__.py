"""Services: blocking orchestration that joins store ports to the pure core (run off the event loop).

They hold no clients of their own; the streaming layer builds the clients and calls them."""

__all__: list[str] = []

"""Event-time windows, watermarks and the per-batch fold of events into partials."""

__all__: list[str] = []

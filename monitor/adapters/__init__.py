"""Adapters: the impure edges of the monitor (ClickHouse store, broker, producer, join store,
Prometheus metrics, alert sinks). The pure core in ``monitor`` never imports from here."""

__all__: list[str] = []

"""Errors raised by the monitor: one root, small named subclasses with precise messages."""

from __future__ import annotations

__all__ = ["BrokerError", "ConfigError", "InvalidEvent", "MonitorError", "StoreError"]


class MonitorError(Exception):
    """Root of every error this project raises on purpose."""


class InvalidEvent(MonitorError):
    """An event breaks the contract. ``reason`` is a stable code, ``field`` the dotted path.

    >>> str(InvalidEvent("out_of_range", "rating", "7 is outside 1-5"))
    'rating: 7 is outside 1-5'
    """

    def __init__(self, reason: str, field: str, detail: str) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}" if field else detail)


class ConfigError(MonitorError):
    """A setting or a configuration file is wrong; the message names the value and the choices."""


class StoreError(MonitorError):
    """The aggregate store (ClickHouse) cannot be reached or refused an operation."""


class BrokerError(MonitorError):
    """The local broker could not be started or reached."""

"""The user tools: CLI, demo, bench, replay, simulator and the worker launcher."""

__all__: list[str] = []

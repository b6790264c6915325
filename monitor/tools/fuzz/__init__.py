"""Fuzzing of the whole batch path: generated and mutated messages (:mod:`.messages`) through the
worker's ingest steps into embedded ClickHouse, with the boundary's promises checked after every
batch (:mod:`.run`). ``monitor fuzz --messages 100000`` is the long run; ``make test`` runs a slice."""

from monitor.tools.fuzz.run import FuzzHarness, FuzzReport, run_fuzz

__all__ = ["FuzzHarness", "FuzzReport", "run_fuzz"]

"""The clock every rule and job reads: defined in `storage.clock` (stored times come from it too,
and storage imports nothing of scheduling), re-exported here for the scheduling code and tests."""

from __future__ import annotations

from storage.clock import Clock, FakeClock, SystemClock

__all__ = ["Clock", "FakeClock", "SystemClock"]

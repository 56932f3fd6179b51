"""Where the time of the audio -> record path goes: CPU and wall seconds per named stage.

``read_span`` and the builder's per-clip step (tfrecords_builder/process.py) take an optional
``StageClock`` and wrap each stage in ``with clock("decode"): ...``; without one they use
``NO_CLOCK``, which costs a function call. benchmarks/bench_builder.py prints the totals, so the
breakdown it reports is measured inside the very code the builder runs, not a re-implementation.

CPU seconds are ``time.process_time`` (every thread of the process: TensorFlow's intra-op threads
count), wall seconds ``time.perf_counter``. Stages must not nest.
"""

from __future__ import annotations

import collections
import contextlib
import time
from typing import Dict, Iterator


class StageClock:
    """Accumulates CPU and wall seconds per stage name: ``with clock("resample"): ...``."""

    def __init__(self):
        self.cpu: Dict[str, float] = collections.defaultdict(float)
        self.wall: Dict[str, float] = collections.defaultdict(float)
        self.calls: Dict[str, int] = collections.defaultdict(int)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self.cpu[stage] += time.process_time() - cpu
            self.wall[stage] += time.perf_counter() - wall
            self.calls[stage] += 1

    def add(self, other: "StageClock") -> None:
        """Add another clock's totals to this one."""
        for stage in other.calls:
            self.cpu[stage] += other.cpu[stage]
            self.wall[stage] += other.wall[stage]
            self.calls[stage] += other.calls[stage]


class _NoClock:
    """A clock that measures nothing (the default)."""

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        yield


NO_CLOCK = _NoClock()

"""Fault windows, looked up by target and time."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from fakalab.simulate.params import Fault

__all__ = ["FaultSchedule"]

FloatArray = npt.NDArray[np.float64]


class FaultSchedule:
    """Active faults per target. Overlapping windows multiply latency factors and add added
    latencies; the highest failure probability among active faults that set one replaces the
    target's own."""

    def __init__(self, faults: Iterable[Fault]) -> None:
        self._by_target: dict[str, list[Fault]] = defaultdict(list)
        for fault in sorted(faults, key=lambda f: f.start_s):
            self._by_target[fault.target].append(fault)
        self._starts = {t: [f.start_s for f in fs] for t, fs in self._by_target.items()}
        self._longest = {t: max(f.end_s - f.start_s for f in fs)
                         for t, fs in self._by_target.items()}

    def affects(self, target: str) -> bool:
        return target in self._by_target

    def windows(self, target: str) -> list[Fault]:
        return list(self._by_target.get(target, ()))

    def at(self, target: str, t: float, failure_prob: float) -> tuple[float, float, float]:
        """(latency factor, added latency, failure probability) of ``target`` at time ``t``."""
        factor, added, override = 1.0, 0.0, -1.0
        faults = self._by_target.get(target, ())
        if faults:
            starts = self._starts[target]
            first = bisect.bisect_left(starts, t - self._longest[target])
            faults = faults[first : bisect.bisect_right(starts, t)]
        for fault in faults:
            if fault.start_s <= t < fault.end_s:
                factor *= fault.latency_factor
                added += fault.added_latency_s
                if fault.failure_prob is not None:
                    override = max(override, fault.failure_prob)
        return factor, added, failure_prob if override < 0 else override

    def apply(
        self, target: str, t: FloatArray, base: FloatArray, failure_prob: float
    ) -> tuple[FloatArray, FloatArray]:
        """Vector form of ``at``: latencies from ``base`` and failure probabilities at ``t``."""
        override = np.full(len(t), -1.0)
        factor, added = np.ones(len(t)), np.zeros(len(t))
        for fault in self._by_target.get(target, ()):
            active = (fault.start_s <= t) & (t < fault.end_s)
            factor[active] *= fault.latency_factor
            added[active] += fault.added_latency_s
            if fault.failure_prob is not None:
                override[active] = np.maximum(override[active], fault.failure_prob)
        failure = np.where(override < 0, failure_prob, override)
        return base * factor + added, failure

    def active_mask(
        self, target: str, t: FloatArray, delay_s: float = 0.0
    ) -> npt.NDArray[np.bool_]:
        """Where any fault on ``target`` has been active for at least ``delay_s`` at ``t``."""
        mask = np.zeros(len(t), dtype=bool)
        for fault in self._by_target.get(target, ()):
            mask |= (fault.start_s + delay_s <= t) & (t < fault.end_s)
        return mask

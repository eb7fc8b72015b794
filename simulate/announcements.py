"""What the shop has heard from its providers' status pages, looked up by provider and time
(pure): the failover rule it feeds (``payments.channel_chain``, ``fulfilment.supplier_chain``)."""

from __future__ import annotations

from collections.abc import Iterable

from fakalab.simulate.params import Announcement

__all__ = ["Announced"]


class Announced:
    """The announcements a shop subscribed to its providers hears."""

    def __init__(self, announcements: Iterable[Announcement] = ()) -> None:
        self._by_target: dict[str, list[tuple[float, float]]] = {}
        for a in announcements:
            self._by_target.setdefault(a.target, []).append((a.start_s, a.end_s))

    def __bool__(self) -> bool:
        return bool(self._by_target)

    def degraded(self, name: str, t: float) -> bool:
        """Has ``name`` announced a partial or major outage that still stands at ``t``?"""
        return any(start <= t < end for start, end in self._by_target.get(name, ()))

    def steers_away(self, first: str, second: str, t: float) -> bool:
        """Does the shop put ``second`` before ``first`` at ``t``: ``first`` has announced an
        outage and ``second`` has not?"""
        return self.degraded(first, t) and not self.degraded(second, t)

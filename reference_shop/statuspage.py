"""Status page: component health from recent calls, and incidents opened automatically (pure).

Component states follow statuspage conventions (operational, degraded_performance,
partial_outage, major_outage). When a component leaves ``operational`` an incident opens
(investigating); if it is still unhealthy after ``identify_after_s`` it becomes identified; when
the component is healthy again it is monitoring, and after ``resolve_after_s`` of health, resolved.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import count

__all__ = ["ComponentHealth", "ComponentState", "Incident", "IncidentUpdate", "StatusPage"]


class ComponentState(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded_performance"
    PARTIAL = "partial_outage"
    MAJOR = "major_outage"


@dataclass
class ComponentHealth:
    """Outcomes of recent calls to one component, over a sliding time window. The window's
    error count, slow count and latency sum are kept as calls enter and leave it, so asking
    for the state costs the same at 3 calls a second as at 3,000 (it is asked on every ETA)."""

    window_s: float = 10.0
    slow_ms: float = 500.0
    samples: deque[tuple[float, bool, float]] = field(default_factory=deque)
    forced: ComponentState | None = None  # e.g. an open circuit breaker, a deep queue
    _errors: int = 0
    _slow: int = 0
    _latency_sum: float = 0.0

    def record(self, now: float, ok: bool, latency_ms: float) -> None:
        self.samples.append((now, ok, latency_ms))
        self._count(ok, latency_ms, 1)
        self._trim(now)

    def _count(self, ok: bool, latency_ms: float, sign: int) -> None:
        self._errors += sign * (not ok)
        self._slow += sign * (latency_ms > self.slow_ms)
        self._latency_sum += sign * latency_ms

    def _trim(self, now: float) -> None:
        samples = self.samples
        while samples and samples[0][0] < now - self.window_s:
            _, ok, latency_ms = samples.popleft()
            self._count(ok, latency_ms, -1)
        if not samples:
            self._latency_sum = 0.0  # no float residue once the window is empty

    def state(self, now: float) -> ComponentState:
        self._trim(now)
        if self.forced is not None:
            return self.forced
        n = len(self.samples)
        if n < 3:
            return ComponentState.OPERATIONAL
        errors, slow = self._errors / n, self._slow / n
        if errors >= 0.9:
            return ComponentState.MAJOR
        if errors >= 0.3:
            return ComponentState.PARTIAL
        if errors >= 0.05 or slow >= 0.2:
            return ComponentState.DEGRADED
        return ComponentState.OPERATIONAL

    def mean_latency_ms(self, now: float) -> float:
        self._trim(now)
        if not self.samples:
            return 0.0
        return self._latency_sum / len(self.samples)

    def error_rate(self, now: float) -> float:
        """Share of the window's calls that failed (0 with no calls)."""
        self._trim(now)
        return self._errors / len(self.samples) if self.samples else 0.0


@dataclass(frozen=True)
class IncidentUpdate:
    incident_id: str
    component: str
    state: str
    at: float
    message: str


@dataclass
class Incident:
    incident_id: str
    component: str
    state: str
    opened_at: float
    updated_at: float
    message: str
    healthy_since: float | None = None


_WORDING = {
    "investigating": (
        "We are investigating problems with {what}. Orders waiting on it may be delayed."
    ),
    "identified": "The problem with {what} is identified ({detail}); we are working around it.",
    "monitoring": "{what} is recovering; we are watching it and delivering the waiting orders.",
    "resolved": "{what} works normally again.",
}
_NAMES = {
    "payment-a": "payment channel A",
    "payment-b": "payment channel B",
    "supplier-a": "supplier A",
    "supplier-b": "supplier B",
    "risk": "the security check service",
    "notify": "e-mail notifications",
    "fulfilment": "the delivery queue",
}


class StatusPage:
    """Components and their incidents; :meth:`evaluate` returns the updates it made."""

    def __init__(self, components: list[str], identify_after_s: float = 10.0,
                 resolve_after_s: float = 10.0) -> None:
        self.health = {name: ComponentHealth() for name in components}
        self.open: dict[str, Incident] = {}
        self.identify_after_s = identify_after_s
        self.resolve_after_s = resolve_after_s
        self._ids = count(1)

    def states(self, now: float) -> dict[str, ComponentState]:
        return {name: h.state(now) for name, h in self.health.items()}

    def evaluate(self, now: float) -> list[IncidentUpdate]:
        updates: list[IncidentUpdate] = []
        for name, health in self.health.items():
            state = health.state(now)
            incident = self.open.get(name)
            if incident is None:
                if state is not ComponentState.OPERATIONAL:
                    incident = Incident(f"INC-{next(self._ids):04d}", name, "investigating",
                                        now, now, "")
                    self.open[name] = incident
                    updates.append(self._update(incident, "investigating", now, state))
                continue
            updates.extend(self._advance(incident, state, now))
        return updates

    def _advance(self, inc: Incident, state: ComponentState, now: float) -> list[IncidentUpdate]:
        healthy = state is ComponentState.OPERATIONAL
        if not healthy:
            inc.healthy_since = None
            if inc.state == "investigating" and now - inc.opened_at >= self.identify_after_s:
                return [self._update(inc, "identified", now, state)]
            if inc.state == "monitoring":
                return [self._update(inc, "identified", now, state)]
            return []
        if inc.healthy_since is None:
            inc.healthy_since = now
        if inc.state in ("investigating", "identified"):
            return [self._update(inc, "monitoring", now, state)]
        if inc.state == "monitoring" and now - inc.healthy_since >= self.resolve_after_s:
            del self.open[inc.component]
            return [self._update(inc, "resolved", now, state)]
        return []

    def _update(self, inc: Incident, new: str, now: float, state: ComponentState) -> IncidentUpdate:
        what = _NAMES.get(inc.component, inc.component)
        detail = state.value.replace("_", " ")
        message = _WORDING[new].format(what=what, detail=detail)
        what_cap = message[0].upper() + message[1:]
        inc.state, inc.updated_at, inc.message = new, now, what_cap
        return IncidentUpdate(inc.incident_id, inc.component, new, now, what_cap)

    def open_incidents(self) -> list[Incident]:
        return list(self.open.values())

    def restore(self, updates: list[IncidentUpdate]) -> None:
        """Carry on after a restart: incident numbers continue from the highest one stored, and
        incidents whose last update was not ``resolved`` stay open where they were."""
        first: dict[str, float] = {}
        last: dict[str, IncidentUpdate] = {}
        for u in sorted(updates, key=lambda u: u.at):
            first.setdefault(u.incident_id, u.at)
            last[u.incident_id] = u
        numbers = [int(i[4:]) for i in last if i.startswith("INC-") and i[4:].isdigit()]
        self._ids = count(max(numbers, default=0) + 1)
        for u in last.values():
            if u.state != "resolved":
                self.open[u.component] = Incident(u.incident_id, u.component, u.state,
                                                  first[u.incident_id], u.at, u.message)

    def restarted(self, now: float, resumed: int) -> IncidentUpdate:
        """The shop came back with ``resumed`` orders that were in progress when it stopped: a
        note on the delivery queue, in ``monitoring`` (resolved once the queue is healthy)."""
        inc = self.open.get("fulfilment")
        if inc is None:
            inc = Incident(f"INC-{next(self._ids):04d}", "fulfilment", "monitoring", now, now, "")
            self.open["fulfilment"] = inc
        inc.state, inc.updated_at, inc.healthy_since = "monitoring", now, None
        inc.message = (f"The shop restarted after an interruption; {resumed} orders that were in "
                       f"progress are being resumed and delivered.")
        return IncidentUpdate(inc.incident_id, "fulfilment", "monitoring", now, inc.message)

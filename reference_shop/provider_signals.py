"""What the shop's providers say about themselves (pure): their Statuspage ``summary.json``
read into a ``ProviderReport``, the latest report per provider (``ProviderSignals``), the
server-sent events of their push, and the rows the shop records.

A provider announcing ``partial_outage`` or ``major_outage`` of its component counts as
degraded: failover steers new orders to the alternative before the shop's own error counts
open the breaker (``payments.py``, ``fulfilment.py``), and the incident shows on the shop's
status page, attributed ("reported by payment-a").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fakalab.contract.services import OUTAGE_STATUSES

__all__ = ["DEGRADED", "ProviderIncident", "ProviderReport", "ProviderSignals",
           "parse_summary", "sse_events"]

DEGRADED = OUTAGE_STATUSES
_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage")


@dataclass(frozen=True)
class ProviderIncident:
    incident_id: str
    name: str
    status: str
    impact: str
    body: str
    updated_at: str


@dataclass(frozen=True)
class ProviderReport:
    provider: str
    received_at: float
    via: str  # stream | poll
    indicator: str
    component_status: str
    incidents: tuple[ProviderIncident, ...] = ()
    page_updated_at: float | None = None  # the page's own clock: orders answers that cross

    def older_than(self, other: ProviderReport | None) -> bool:
        """Is this an answer from before ``other``'s (a poll sent before a push arrived)?"""
        return (other is not None and self.page_updated_at is not None
                and other.page_updated_at is not None
                and self.page_updated_at < other.page_updated_at)

    @property
    def degraded(self) -> bool:
        return self.component_status in DEGRADED

    def same_news(self, other: ProviderReport | None) -> bool:
        return other is not None and (self.indicator, self.component_status,
                                      self.incidents) == (other.indicator,
                                                          other.component_status,
                                                          other.incidents)

    def row(self) -> dict[str, Any]:
        """A provider_signals.csv row (contract/rundir.py PROVIDER_SIGNAL_COLUMNS)."""
        return {"at": self.received_at, "provider": self.provider, "via": self.via,
                "indicator": self.indicator, "component_status": self.component_status,
                "incidents": ";".join(i.incident_id for i in self.incidents),
                "impact": ";".join(i.impact for i in self.incidents)}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _incident(raw: Any) -> ProviderIncident:
    if not isinstance(raw, dict) or "id" not in raw:
        raise ValueError("an incident without an id")
    updates = raw.get("incident_updates") or []
    body = _text(updates[0].get("body")) if updates and isinstance(updates[0], dict) else ""
    return ProviderIncident(_text(raw["id"]), _text(raw.get("name")), _text(raw.get("status")),
                            _text(raw.get("impact")), body, _text(raw.get("updated_at")))


def _epoch(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def parse_summary(provider: str, doc: Any, received_at: float, via: str) -> ProviderReport:
    """``doc`` (a parsed summary.json) as a report; ValueError when it is not one. The
    component status is the worst of the page's components (a provider's page may list
    several; the shop depends on all of them)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("status"), dict):
        raise ValueError("not a Statuspage summary: no status object")
    components = doc.get("components")
    if not isinstance(components, list):
        raise ValueError("not a Statuspage summary: no components list")
    statuses = [c.get("status") for c in components if isinstance(c, dict)]
    unknown = [s for s in statuses if s not in _STATUSES]
    if unknown:
        raise ValueError(f"unknown component status {unknown[0]!r}")
    worst = max(statuses, key=_STATUSES.index, default="operational")
    incidents = tuple(_incident(i) for i in doc.get("incidents") or [])
    page = doc.get("page")
    page = page if isinstance(page, dict) else {}
    return ProviderReport(provider, received_at, via, _text(doc["status"].get("indicator")),
                          str(worst), incidents, _epoch(page.get("updated_at")))


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event, data) of each server-sent event in ``lines`` (without line ends); comments
    (keep-alives) and events without data are skipped."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


@dataclass
class ProviderSignals:
    """The latest report of each provider the shop subscribes to."""

    enabled: bool = False
    reports: dict[str, ProviderReport] = field(default_factory=dict)

    def apply(self, report: ProviderReport) -> bool:
        """Keep ``report`` unless it is older than the one kept; True when it tells something
        new (a row to record)."""
        kept = self.reports.get(report.provider)
        if report.older_than(kept):
            return False
        news = not report.same_news(kept)
        self.reports[report.provider] = report
        return news

    def degraded(self, provider: str) -> bool:
        """Has ``provider`` announced a partial or major outage (and not withdrawn it)?"""
        report = self.reports.get(provider)
        return self.enabled and report is not None and report.degraded

    def incidents(self) -> list[dict[str, Any]]:
        """The providers' open incidents for the shop's status page, each attributed."""
        return [{"incident_id": f"{r.provider}:{i.incident_id}", "component": r.provider,
                 "state": i.status, "impact": i.impact,
                 "message": f"{i.name or i.body} (reported by {r.provider})",
                 "reported_by": r.provider, "provider_status": r.component_status,
                 "updated_at": i.updated_at, "received_at": r.received_at}
                for r in self.reports.values() for i in r.incidents]

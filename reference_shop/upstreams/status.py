"""A provider's own status page, in the shape of the Atlassian Statuspage API (pure).

``summary(...)`` is the document of ``GET /api/v2/summary.json``: ``page``, ``status``
(``indicator`` none|minor|major|critical and its description), ``components`` (one per service,
``operational``, ``degraded_performance``, ``partial_outage`` or ``major_outage``),
``incidents`` (the unresolved ones, each with ``impact`` and its ``incident_updates``) and
``scheduled_maintenances``. A component's status is the worst of its open announcements and —
when the page reports itself (``auto``) — of its fault switches; a provider is silent about a
fault until it announces it, as real ones often are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fakalab.reference_shop.upstreams.faults import Faults

__all__ = ["COMPONENT_STATUSES", "Announcement", "StatusBoard", "auto_status", "summary",
           "worst"]

ComponentStatus = Literal["operational", "degraded_performance", "partial_outage",
                          "major_outage"]
COMPONENT_STATUSES: tuple[ComponentStatus, ...] = (
    "operational", "degraded_performance", "partial_outage", "major_outage")
IMPACT = {"operational": "none", "degraded_performance": "minor", "partial_outage": "major",
          "major_outage": "critical"}
INDICATOR_TEXT = {"none": "All Systems Operational", "minor": "Minor Service Outage",
                  "major": "Partial System Outage", "critical": "Major Service Outage"}


class Announcement(BaseModel):
    """What ``POST /admin/status/incidents`` takes: an incident the provider announces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field("", max_length=128, pattern=r"^[A-Za-z0-9_.:-]*$")
    status: Literal["degraded_performance", "partial_outage", "major_outage"] = "partial_outage"
    name: str = Field("", max_length=200)
    body: str = Field("", max_length=2000)
    incident_status: Literal["investigating", "identified", "monitoring"] = "investigating"


def worst(statuses: list[str]) -> str:
    ranked = [s for s in COMPONENT_STATUSES if s in statuses]
    return ranked[-1] if ranked else "operational"


def auto_status(faults: Faults) -> str:
    """The component status a provider that reports itself would show for its switches."""
    values = faults.model_dump()
    errors = max(float(values.get(k, 0.0)) for k in ("error_pct", "failure_pct",
                                                     "callback_drop_pct", "out_of_stock_pct"))
    if errors >= 90:
        return "major_outage"
    if errors > 0:
        return "partial_outage"
    slow = float(values.get("latency_ms", 0.0)) + float(values.get("query_latency_ms", 0.0))
    return "degraded_performance" if slow > 0 else "operational"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@dataclass
class _Incident:
    announcement: Announcement
    created_at: float
    updates: list[tuple[str, str, float]] = field(default_factory=list)  # status, body, at


@dataclass
class StatusBoard:
    """The open announcements of one service; ``version`` grows with every change (the push
    sends a summary each time it moves)."""

    service: str
    created_at: float
    auto: bool = False
    open: dict[str, _Incident] = field(default_factory=dict)
    version: int = 0
    updated_at: float = 0.0
    _next: int = 1

    def announce(self, announcement: Announcement, now: float) -> str:
        incident_id = announcement.id or f"{self.service}-{self._next}"
        self._next += 1
        existing = self.open.get(incident_id)
        body = announcement.body or announcement.name or "We are investigating."
        if existing is None:
            existing = _Incident(announcement, now)
            self.open[incident_id] = existing
        else:
            existing.announcement = announcement
        existing.updates.append((announcement.incident_status, body, now))
        self._changed(now)
        return incident_id

    def resolve(self, incident_id: str, now: float) -> bool:
        """Withdraw one announcement (resolved: it leaves summary.json); False if unknown."""
        if self.open.pop(incident_id, None) is None:
            return False
        self._changed(now)
        return True

    def reset(self, now: float) -> None:
        had = bool(self.open) or self.auto
        self.open.clear()
        self.auto = False
        if had:
            self._changed(now)

    def set_auto(self, auto: bool, now: float) -> None:
        if auto != self.auto:
            self.auto = auto
            self._changed(now)

    def _changed(self, now: float) -> None:
        self.version += 1
        self.updated_at = now

    def component_status(self, faults: Faults) -> str:
        statuses: list[str] = [i.announcement.status for i in self.open.values()]
        if self.auto:
            statuses.append(auto_status(faults))
        return worst(statuses)


def _incident(service: str, incident_id: str, inc: _Incident) -> dict[str, Any]:
    a = inc.announcement
    last_at = inc.updates[-1][2]
    updates = [{"id": f"{incident_id}-u{n + 1}", "status": status, "body": body,
                "incident_id": incident_id, "created_at": _iso(at), "updated_at": _iso(at),
                "display_at": _iso(at),
                "affected_components": [{"code": service, "name": service,
                                         "new_status": a.status}]}
               for n, (status, body, at) in reversed(list(enumerate(inc.updates)))]
    return {"id": incident_id, "name": a.name or f"{service}: {a.status.replace('_', ' ')}",
            "status": a.incident_status, "impact": IMPACT[a.status],
            "created_at": _iso(inc.created_at), "updated_at": _iso(last_at),
            "started_at": _iso(inc.created_at), "monitoring_at": None, "resolved_at": None,
            "page_id": service, "shortlink": "", "incident_updates": updates,
            "components": [{"id": service, "name": service, "status": a.status}]}


def summary(board: StatusBoard, faults: Faults, url: str = "") -> dict[str, Any]:
    """The Statuspage ``summary.json`` of ``board``'s service."""
    service, status = board.service, board.component_status(faults)
    impacts = [IMPACT[status], *(IMPACT[i.announcement.status] for i in board.open.values())]
    indicator = next((i for i in ("critical", "major", "minor") if i in impacts), "none")
    updated = _iso(board.updated_at or board.created_at)
    return {
        "page": {"id": service, "name": f"fakalab {service}", "url": url,
                 "time_zone": "Etc/UTC", "updated_at": updated},
        "status": {"indicator": indicator, "description": INDICATOR_TEXT[indicator]},
        "components": [{"id": service, "name": service, "status": status,
                        "created_at": _iso(board.created_at), "updated_at": updated,
                        "position": 1, "description": None, "showcase": True,
                        "start_date": None, "group_id": None, "page_id": service,
                        "group": False, "only_show_if_degraded": False}],
        "incidents": [_incident(service, i, inc) for i, inc in board.open.items()],
        "scheduled_maintenances": [],
    }

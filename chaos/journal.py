"""The drill journal: immutable records of what a plan run did, and its JSON and faults.csv forms.

The runner appends records as things happen; `Journal` is assembled once, at the end, and
`Journal.to_json()` is the document described in docs/chaos.md (format_version 1).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FAULT_COLUMNS",
    "FORMAT_VERSION",
    "Activity",
    "FaultRecord",
    "Journal",
    "ProbeRecord",
    "SteadyStateRecord",
    "fault_rows",
    "write_faults_csv",
]

FORMAT_VERSION = 1
FAULT_COLUMNS = ("fault_id", "link", "kind", "attributes", "toxicity", "started_at", "ended_at")


@dataclass(frozen=True)
class ProbeRecord:
    name: str
    type: str
    met: bool
    value: Any
    error: str | None
    start: float
    end: float


@dataclass(frozen=True)
class SteadyStateRecord:
    met: bool
    probes: tuple[ProbeRecord, ...]
    at: float

    @classmethod
    def of(cls, probes: tuple[ProbeRecord, ...], at: float) -> SteadyStateRecord:
        return cls(all(probe.met for probe in probes), probes, at)

    def to_json(self) -> dict[str, Any]:
        return {"met": self.met, "at": self.at, "probes": [asdict(p) for p in self.probes]}


@dataclass(frozen=True)
class Activity:
    """An action (inject or remove a fault) or a probe, with its outcome."""

    type: str
    name: str
    link: str | None
    fault: Mapping[str, Any] | None
    start: float
    end: float
    status: str
    output: Any = None
    exception: str | None = None


@dataclass(frozen=True)
class FaultRecord:
    fault_id: str
    link: str
    kind: str
    attributes: Mapping[str, Any]
    toxicity: float
    started_at: float
    ended_at: float | None


@dataclass(frozen=True)
class Journal:
    title: str
    plan: Mapping[str, Any]
    status: str
    deviated: bool
    started_at: float
    ended_at: float
    before: SteadyStateRecord | None
    during: tuple[SteadyStateRecord, ...]
    after: SteadyStateRecord | None
    activities: tuple[Activity, ...]
    rollbacks: tuple[Activity, ...]
    faults: tuple[FaultRecord, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "title": self.title,
            "plan": dict(self.plan),
            "status": self.status,
            "deviated": self.deviated,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": round(self.ended_at - self.started_at, 6),
            "steady_states": {
                "before": self.before.to_json() if self.before else None,
                "during": [check.to_json() for check in self.during],
                "after": self.after.to_json() if self.after else None,
            },
            "activities": [asdict(activity) for activity in self.activities],
            "rollbacks": [asdict(activity) for activity in self.rollbacks],
            "faults": [asdict(fault) for fault in self.faults],
        }

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True)
    return str(value)


def fault_rows(journal: Mapping[str, Any]) -> list[dict[str, str]]:
    """faults.csv rows (docs/run-dir.md) from a journal document, one per injected fault."""
    return [{column: _cell(fault.get(column)) for column in FAULT_COLUMNS}
            for fault in journal.get("faults", [])]


def write_faults_csv(journal: Mapping[str, Any], path: str | Path) -> None:
    with Path(path).open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FAULT_COLUMNS)
        writer.writeheader()
        writer.writerows(fault_rows(journal))

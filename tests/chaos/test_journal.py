"""Journal documents and faults.csv rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from fakalab.chaos.journal import (
    FAULT_COLUMNS,
    Activity,
    FaultRecord,
    Journal,
    ProbeRecord,
    SteadyStateRecord,
    fault_rows,
    write_faults_csv,
)


def _journal() -> Journal:
    probe = ProbeRecord("up", "http", True, 200, None, 1.0, 1.1)
    steady = SteadyStateRecord.of((probe,), 1.1)
    inject = Activity("action", "inject f1", "shop->payment-a", {"kind": "down"}, 2.0, 2.1,
                      "succeeded", {"enabled": False})
    faults = (
        FaultRecord("f1", "shop->payment-a", "down", {}, 1.0, 2.0, 5.0),
        FaultRecord("f2", "shop->payment-b", "payment.callback_drop_pct",
                    {"callback_drop_pct": 30}, 1.0, 3.0, None),
    )
    return Journal("t", {"title": "t"}, "completed", False, 1.0, 6.5, steady, (steady,), steady,
                   (inject,), (), faults)


def test_journal_document_has_the_documented_shape() -> None:
    doc = _journal().to_json()
    assert list(doc) == ["format_version", "title", "plan", "status", "deviated", "started_at",
                         "ended_at", "duration_s", "steady_states", "activities", "rollbacks",
                         "faults"]
    assert doc["format_version"] == 1 and doc["duration_s"] == 5.5
    assert doc["steady_states"]["before"]["met"] is True
    assert doc["steady_states"]["before"]["probes"][0]["value"] == 200
    assert set(doc["activities"][0]) == {"type", "name", "link", "fault", "start", "end",
                                         "status", "output", "exception"}
    assert list(doc["faults"][0]) == list(FAULT_COLUMNS)


def test_steady_state_met_only_when_every_probe_is() -> None:
    ok = ProbeRecord("a", "http", True, 1, None, 0, 0)
    bad = ProbeRecord("b", "http", False, 1, None, 0, 0)
    assert SteadyStateRecord.of((ok, ok), 0).met
    assert not SteadyStateRecord.of((ok, bad), 0).met
    assert SteadyStateRecord.of((), 0).met


def test_fault_rows_match_faults_csv_columns(tmp_path: Path) -> None:
    journal = _journal()
    path = tmp_path / "chaos.json"
    journal.write(path)
    rows = fault_rows(json.loads(path.read_text()))
    assert rows == [
        {"fault_id": "f1", "link": "shop->payment-a", "kind": "down", "attributes": "{}",
         "toxicity": "1.0", "started_at": "2.0", "ended_at": "5.0"},
        {"fault_id": "f2", "link": "shop->payment-b", "kind": "payment.callback_drop_pct",
         "attributes": '{"callback_drop_pct": 30}', "toxicity": "1.0", "started_at": "3.0",
         "ended_at": ""},
    ]
    write_faults_csv(journal.to_json(), tmp_path / "faults.csv")
    with (tmp_path / "faults.csv").open() as f:
        assert list(csv.DictReader(f)) == rows

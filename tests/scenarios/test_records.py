import csv
import json
from pathlib import Path

import pytest

from fakalab.contract.rundir import POLL_COLUMNS, TICKET_COLUMNS
from fakalab.scenarios.locust.records import (
    WRITTEN,
    Batch,
    RecordReceiver,
    RecordShipper,
    RecordWriter,
    merge_records,
    merge_rows,
)


def test_merge_rows_orders_by_time() -> None:
    a = [{"at": "3"}, {"at": "5"}]
    b = [{"at": "1"}, {"at": "4"}]
    assert [r["at"] for r in merge_rows([a, b])] == ["1", "3", "4", "5"]


def test_writers_of_several_processes_merge(tmp_path: Path) -> None:
    first, second = RecordWriter(tmp_path, pid=1), RecordWriter(tmp_path, pid=2)
    first.poll("A1", 10.5, "buyer", "poll", 200, 1.25, "paid", "Payment received", None)
    second.poll("B1", 9.0, "impatient", "sse", 200, 0.0, "delivered", "ok", 12.0)
    second.ticket("B1", 11.0, "stale_status", 2.5)
    first.close()
    second.close()
    assert merge_records(tmp_path, tmp_path) == {"polls": 2, "tickets": 1, "attempts": 0}
    with open(tmp_path / "polls.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == POLL_COLUMNS
    assert [r["order_no"] for r in rows] == ["B1", "A1"]
    assert rows[1]["eta_seen"] == "" and rows[1]["latency_ms"] == "1.25"
    with open(tmp_path / "tickets.csv", newline="") as handle:
        assert list(csv.DictReader(handle)) == [
            dict(zip(TICKET_COLUMNS, ["B1", "11", "stale_status", "2.5"], strict=True))]


def test_merge_refuses_wrong_columns(tmp_path: Path) -> None:
    (tmp_path / "polls-9.csv").write_text("order_no,at\n")
    with pytest.raises(ValueError, match="columns"):
        merge_records(tmp_path, tmp_path)


def test_a_workers_shipped_records_land_as_a_local_writers_would(tmp_path: Path) -> None:
    local, shipped = tmp_path / "local", tmp_path / "shipped"
    receiver = RecordReceiver(shipped)
    batches: list[Batch] = []
    shipper = RecordShipper(batches.append, flush_every=2)
    writer = RecordWriter(local, pid="w0")
    for sink in (writer, shipper):
        sink.poll("A1", 10.5, "buyer", "poll", 200, 1.25, "paid", "Payment received", None)
        sink.ticket("A1", 11.0, "stale_status", 2.5)
        sink.buyer("A1", 12.0, "key", "abc")
        sink.flush()
        sink.attempt("create_order", 12.5, "buyer", 1, "busy", 503, 2.0)
        sink.flush()
    assert [sorted(b["rows"]) for b in batches] == [["polls", "tickets"], ["buyers"],
                                                    ["attempts"]]
    shipper.publish({"index": 0, "started": 1})
    for batch in batches:
        receiver.receive("w0", batch)
    writer.close()
    for kind in WRITTEN:
        assert (shipped / f"{kind}-w0.csv").read_text() == (local / f"{kind}-w0.csv").read_text()
    assert json.loads((shipped / "arrivals-w0.json").read_text()) == {"index": 0, "started": 1}
    assert merge_records(shipped, shipped) == {"polls": 1, "tickets": 1, "attempts": 1}


def test_a_receiver_once_closed_never_reopens_a_file(tmp_path: Path) -> None:
    receiver = RecordReceiver(tmp_path)
    receiver.receive("w1", {"rows": {"polls": [["A1", "1"]]}, "summary": None})
    receiver.close()
    before = (tmp_path / "polls-w1.csv").read_text()
    receiver.receive("w1", {"rows": {"polls": [["A2", "2"]]}, "summary": {"late": True}})
    assert (tmp_path / "polls-w1.csv").read_text() == before
    assert not (tmp_path / "arrivals-w1.json").exists()


def test_a_shipper_sends_nothing_when_it_has_nothing(tmp_path: Path) -> None:
    batches: list[Batch] = []
    RecordShipper(batches.append).flush()
    assert batches == []

import csv
from pathlib import Path

import pytest

from fakalab.contract.rundir import POLL_COLUMNS, TICKET_COLUMNS
from fakalab.scenarios.locust.records import RecordWriter, merge_records, merge_rows


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

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fakalab.reports.analysis import Analysis
from fakalab.reports.build import build_report
from fakalab.reports.metrics import queue_steps
from fakalab.reports.postmortem import epoch, postmortem, recovered_at
from tests.reports.conftest import TINY


def test_facts(tiny: Analysis) -> None:
    facts = postmortem(tiny).facts
    assert {
        k: facts[k] for k in ("status", "deviated", "trigger_s", "detection_s", "recovered_s")
    } == {
        "status": "completed",
        "deviated": True,
        "trigger_s": 25.0,
        "detection_s": 8.0,
        "recovered_s": 90.0,
    }  # queue 2 at the trigger; 2 again when f2 ended at 1090


def test_action_items_name_stage_and_link(tiny: Analysis) -> None:
    items = postmortem(tiny).action_items
    assert [i.kind for i in items] == [
        "mitigate",
        "prevent",
        "detect",
        "communicate",
        "communicate",
    ]
    # delayed orders after payment: B 1+2+35+2, D 1+2+66 -> allocating 101 of 109 s;
    # f1 (1025-1065) overlaps B's allocating by 25 s and D's by 31 s
    assert "spent 101 s (93% of their time after payment) in `allocating`" in items[0].text
    assert "`shop->supplier-a` overlapped 56 s" in items[0].text
    assert "`allocating` x1" in items[1].text
    assert "`shop->risk`" in items[2].text  # no incident followed f2
    assert "33%" in items[3].text and "50 s" in items[4].text


def test_transparent_and_opaque_differ_in_communication_items(tiny_opaque: Analysis) -> None:
    texts = [i.text for i in postmortem(tiny_opaque).action_items if i.kind == "communicate"]
    assert any("Only 0% of what waiting buyers saw named a stage" in t for t in texts)


def test_timeline_is_sorted_and_blends_sources(tiny: Analysis) -> None:
    rows = postmortem(tiny).timeline
    assert [r["t_s"] for r in rows] == sorted(r["t_s"] for r in rows)
    assert {r["source"] for r in rows} == {"run", "journal", "faults", "incidents", "orders"}
    failed = [r for r in rows if "queue-depth" in r["event"]]
    assert failed[0]["t_s"] == 60.0  # an ISO 8601 start in the journal
    assert not any("shop-health" in r["event"] for r in rows)  # passing probes are left out


def test_prose(tiny: Analysis) -> None:
    pm = postmortem(tiny)
    assert pm.title == "Supplier A slows down during a small sale"
    assert "2 of 4 decided paid orders (50.0%) missed the 30 s SLA" in pm.summary
    assert pm.trigger.startswith("`latency` on `shop->supplier-a`") and "T+25 s" in pm.trigger
    assert "8 s after the trigger" in pm.detection
    assert "T+90 s" in pm.resolution


def test_recovered_never_and_without_faults() -> None:
    orders = pd.DataFrame({"paid_at": [1.0, 5.0], "delivered_at": [2.0, np.nan]})
    faults = pd.DataFrame({"started_at": [3.0], "ended_at": [4.0]})
    assert recovered_at(queue_steps(orders), faults) == 4.0
    assert recovered_at(queue_steps(orders), faults.assign(ended_at=[6.0])) is None
    assert recovered_at(queue_steps(orders), faults.iloc[:0]) is None


def test_epoch() -> None:
    assert epoch(5) == 5.0 and epoch("1970-01-01T00:00:10") == 10.0
    assert epoch("soon") is None and epoch(None) is None and epoch(True) is None


def test_lessons(tiny: Analysis) -> None:
    pm = postmortem(tiny)
    assert pm.went_well == ["SLO ttd_p95_s held (38.0 vs <= 60)."]
    assert pm.went_wrong == [
        "SLO delay_rate breached (0.5 vs <= 0.05).",
        "The steady state deviated after the method.",
    ]


def test_a_fault_never_removed_still_gives_a_report(run_copy: Callable[[Path], Path],
                                                    tmp_path: Path) -> None:
    """An interrupted drill whose rollback failed leaves `ended_at` empty in faults.csv: the
    report says the fault was still in place (it used to fail on NaN and write nothing)."""
    run = run_copy(TINY)
    lines = (run / "faults.csv").read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ","
    (run / "faults.csv").write_text("\n".join(lines) + "\n")
    out = build_report([run], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert out.exists()
    assert "still in place when the run ended (never removed)" in text
    assert "NaN" not in (tmp_path / "report" / "metrics.json").read_text()

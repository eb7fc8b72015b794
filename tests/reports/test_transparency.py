"""What buyers saw in the `tiny` fixture, computed by hand from its polls.csv and tickets.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fakalab.reports.analysis import Analysis
from fakalab.reports.transparency import incident_note_delays


def test_transparency(tiny: Analysis) -> None:
    assert tiny.metrics["transparency"] == {
        "observations": 18,
        "polls_per_order": 3.0,
        # 2xx before delivery: A 1 (generic 'processing'), B 5, C 2, D 4 (the 500 is out), F 2
        "waiting_observations": 14,
        "stage_visibility": pytest.approx(13 / 14),
        # B: changes at 1013 1020 1040 1050 1053 -> longest 20; D: 1032 1040, last poll 1090 -> 50
        "vacuum_orders": 2,
        "vacuum_p50_s": 35.0,
        "vacuum_p90_s": 47.0,
        "vacuum_max_s": 50.0,
        # (B,1030) late 22, (B,1045) late 7, (B,1055) met 3, (C,1040) late 2, (C,1043) met 1,
        # (D,1050) passed unmet; (F,1110) not judged (after the end, undelivered)
        "etas_judged": 6,
        "eta_on_time_share": pytest.approx(2 / 6),
        "eta_abs_error_p50_s": 3.0,
        "tickets": 3,
        "tickets_per_100_delayed": 150.0,
        "tickets_by_reason": {"eta_passed": 1, "gave_up": 1, "stale_status": 1},
        # f1 at 1025 -> first note 1033; f2 at 1080 -> none
        "faults_with_incident_note": 1,
        "incident_note_delay_p50_s": 8.0,
    }


def test_vacuum_per_order(tiny: Analysis) -> None:
    assert tiny.vacuum.to_dict() == {1: 20.0, 3: 50.0}  # oid of B and D


def test_opaque_run(tiny_opaque: Analysis) -> None:
    tr = tiny_opaque.metrics["transparency"]
    assert tr["stage_visibility"] == 0.0
    assert tr["etas_judged"] == 0 and tr["eta_on_time_share"] is None
    assert tiny_opaque.vacuum.to_dict() == {1: 40.0, 3: 58.0}
    assert tr["tickets_per_100_delayed"] == 200.0


def test_incident_note_delays() -> None:
    faults = pd.DataFrame({"started_at": [10.0, 20.0, 50.0]})
    incidents = pd.DataFrame({"at": [5.0, 20.0, 30.0]})
    delays = incident_note_delays(faults, incidents)
    assert delays[:2].tolist() == [10.0, 0.0] and np.isnan(delays[2])
    assert np.isnan(incident_note_delays(faults, incidents.iloc[:0])).all()

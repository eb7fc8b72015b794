"""Slow: drill flash-sale and steady, each forecast (and the forecast written) before its drill,
and compare (bench/drill_check.py, as bench/validate_catalog.py does for the whole catalog).

Skipped unless FAKALAB_DRILL_TESTS=1: about 8 minutes of drills on a 2-core machine, which
should not share it with other drills (the drills wait for a quiet machine, up to 10 minutes).

    FAKALAB_DRILL_TESTS=1 .venv/bin/python -m pytest tests/simulate/test_forecast_drills.py -s
"""

import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

pytestmark = [
    pytest.mark.skipif(os.environ.get("FAKALAB_DRILL_TESTS") != "1",
                       reason="drills: set FAKALAB_DRILL_TESTS=1"),
    pytest.mark.timeout(1800),
]


# the flash sale short-handed (8 workers, every buyer admitted): the measured shop delivers the
# sale on time with its own 16, and a forecast is tested where it has something to say
SHORT_HANDED = ["shop.workers=8", "shop.admission=false", "load.max_journeys=8000"]


@pytest.mark.parametrize(("name", "sets"), [("steady", []), ("flash-sale", SHORT_HANDED)])
def test_a_forecast_made_before_the_drill_against_the_drill(name: str, sets: list[str],
                                                            tmp_path: Path) -> None:
    from drill_check import check

    (item,) = check(name, tmp_path, seeds=20, sets=sets,
                    max_load=0.75 * (os.cpu_count() or 2), wait_s=600)
    assert item.comparison is not None, item.error
    written = json.loads((tmp_path / "forecasts" / f"{name}.json").read_text())
    assert dt.datetime.fromisoformat(written["forecast_at"]) <= dt.datetime.fromisoformat(
        item.drilled_at or "")
    figures = item.comparison["figures"]
    print(name, item.load, {k: (v["forecast"], v["interval"], v["measured"])
                            for k, v in figures.items()})
    if name == "steady":
        assert figures["delay_rate"]["measured"] == 0.0 == figures["delay_rate"]["forecast"]
        assert abs(figures["p95_s"]["error_pct"]) <= 30
    else:  # a breach and a backlog, each within the targets or inside the forecast's interval
        assert item.invalid is None, item.invalid
        assert figures["delay_rate"]["measured"] > 0.05
        assert figures["peak_queue_depth"]["measured"] > 1000
        for figure in ("delay_rate", "p95_s"):
            assert figures[figure]["within_target"] or figures[figure]["inside_interval"], figure

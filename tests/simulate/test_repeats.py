import shutil
from pathlib import Path

import pandas as pd
import pytest

from fakalab.simulate.repeats import RepeatError, repeat_spread, spread_of

REAL = Path(__file__).parents[1] / "reports" / "fixtures" / "real-drill"


def _repeat(tmp_path: Path, k: int, slower: float) -> Path:
    run = Path(shutil.copytree(REAL, tmp_path / f"run{k}"))
    orders = pd.read_csv(run / "orders.csv")
    paid = orders["paid_at"]
    orders["delivered_at"] = paid + (orders["delivered_at"] - paid) * slower
    orders.to_csv(run / "orders.csv", index=False)
    return run


def test_the_spread_of_repeats(tmp_path: Path) -> None:
    runs = [_repeat(tmp_path, k, slower) for k, slower in enumerate((1.0, 1.5, 2.0))]
    spread = repeat_spread(runs)
    p95 = spread.figures["p95_s"]
    assert len(p95.values) == 3 and p95.min < p95.mean < p95.max and p95.sd > 0
    lo, hi = p95.run_interval  # type: ignore[misc]
    assert 0 < lo < p95.min and hi > p95.max
    rate = spread.figures["delay_rate"]
    assert 0 <= rate.run_interval[0] <= rate.run_interval[1] <= 1  # type: ignore[index]
    assert spread.as_dict()["method"]["run_interval"].startswith("Student-t")


def test_bounded_intervals_for_rates_and_counts() -> None:
    rate = spread_of([0.01, 0.02, 0.0], rate=True)
    assert rate.run_interval[0] >= 0 and rate.run_interval[1] <= 1  # type: ignore[index]
    count = spread_of([0.0, 3.0, 1.0])
    assert count.run_interval[0] == 0.0  # type: ignore[index]
    assert spread_of([0.2]).run_interval is None


def test_runs_of_other_drills_are_not_repeats(tmp_path: Path) -> None:
    a = _repeat(tmp_path, 0, 1.0)
    b = _repeat(tmp_path, 1, 1.0)
    text = (b / "scenario.yaml").read_text().replace("seed: 5", "seed: 6")
    (b / "scenario.yaml").write_text(text)
    with pytest.raises(RepeatError, match="not a repeat"):
        repeat_spread([a, b])

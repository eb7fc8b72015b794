"""The delay clock starts when the buyer paid, even if the shop heard of it later (or never)."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from fakalab.reports.metrics import outcomes
from fakalab.reports.rundir import _paid_from_the_buyers_view, load_run

FIXTURES = Path(__file__).parent / "fixtures"


def test_paid_at_is_the_earlier_of_shop_and_buyer() -> None:
    orders = pd.DataFrame({"paid_at": [50.0, 5.0, np.nan, np.nan],
                           "buyer_paid_at": [10.0, 6.0, 20.0, np.nan],
                           "delivered_at": [51.0, 7.0, np.nan, np.nan]})
    view = _paid_from_the_buyers_view(orders.copy())
    assert view["paid_at"].tolist()[:3] == [10.0, 5.0, 20.0] and np.isnan(view["paid_at"][3])
    assert view["shop_paid_at"].tolist()[:2] == [50.0, 5.0]
    out = outcomes(view, sla_s=30, ended_at=100)
    # a lost callback recovered after 40 s is a delay; a payment the shop never saw is one too
    assert out["delayed"].tolist() == [True, False, True, False]


def test_runs_without_the_column_read_as_before(tmp_path: Path) -> None:
    run_dir = tmp_path / "tiny"
    shutil.copytree(FIXTURES / "tiny", run_dir)
    before = load_run(run_dir).orders["paid_at"]
    orders = pd.read_csv(run_dir / "orders.csv")
    orders["buyer_paid_at"] = orders["paid_at"] - 1.0
    orders.to_csv(run_dir / "orders.csv", index=False)
    after = load_run(run_dir).orders["paid_at"]
    assert np.allclose(after.dropna(), before.dropna() - 1.0)

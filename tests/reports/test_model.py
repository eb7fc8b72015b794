from __future__ import annotations

import numpy as np
import pandas as pd

from fakalab.reports.analysis import Analysis
from fakalab.reports.model import model_frame


def test_model_vs_measurement(tiny: Analysis) -> None:
    # window 0..50 s: paid A B C D, delayed B D -> 0.5; p95 of ttd 10 40 20 -> 38
    # window 50..100 s: only F, undecided -> no measurement
    assert tiny.model is not None
    frame = tiny.model
    assert frame["measured_delay_rate"].tolist()[0] == 0.5
    assert frame["measured_p95_s"].tolist()[0] == 38.0
    assert np.isnan(frame["measured_delay_rate"].to_numpy()[1])
    assert tiny.metrics["model"] == {
        "windows": 2,
        "delay_rate_mae": 0.25,
        "delay_rate_bias": -0.25,
        "p95_mae_s": 8.0,
        "summary": {"model": "tiny", "workers": 2},
    }


def test_epoch_windows_equal_relative_windows(tiny: Analysis) -> None:
    windows = tiny.run.simulation.windows if tiny.run.simulation else pd.DataFrame()
    relative = model_frame(windows, tiny.run.orders, tiny.out, tiny.run.started_at)
    shifted = windows.assign(
        window_start=windows["window_start"] + 2e9, window_end=windows["window_end"] + 2e9
    )
    orders = tiny.run.orders.assign(paid_at=tiny.run.orders["paid_at"] + 2e9 - 1000)
    absolute = model_frame(shifted, orders, tiny.out, 2e9)
    pd.testing.assert_frame_equal(relative, absolute)

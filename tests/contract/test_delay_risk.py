"""The delay-risk model file and its score (contract/delay_risk.py), pure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fakalab.contract.delay_risk import (
    BASELINE_FEATURE,
    FEATURES,
    MODEL_VERSION,
    SHIPPED_MODEL,
    Linear,
    ModelError,
    RiskModel,
    load_model,
    parse_model,
    score,
)


def model(coefs: list[float] | None = None, intercept: float = -1.0) -> RiskModel:
    n = len(FEATURES)
    means = tuple(float(i) for i in range(n))
    scales = tuple(1.0 + i / 10 for i in range(n))
    part = Linear(FEATURES, means, scales, tuple(coefs or [0.1 * (i % 3 - 1) for i in range(n)]),
                  intercept)
    return RiskModel(part, Linear((BASELINE_FEATURE,), (3.0,), (2.0,), (0.7,), -2.0),
                     trained_on=("run-1",), metrics={"held_out": {"model": {"auc": 0.8}}})


def test_the_score_is_the_logistic_of_the_standardised_features() -> None:
    m = model()
    x = [float(i % 5) for i in range(len(FEATURES))]
    part = m.model
    z = part.intercept + sum(w * (v - mu) / s for w, v, mu, s in
                             zip(part.coefs, x, part.means, part.scales, strict=True))
    assert score(m, x) == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-12)


def test_extreme_values_give_zero_or_one_without_overflow() -> None:
    m = model(coefs=[1.0] * len(FEATURES))
    assert score(m, [1e6] * len(FEATURES)) == 1.0
    assert score(m, [-1e6] * len(FEATURES)) == 0.0


def test_a_model_file_round_trips(tmp_path: Path) -> None:
    m = model()
    m.save(tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert loaded == m
    x = [0.5] * len(FEATURES)
    assert score(loaded, x) == score(m, x)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d.update(format="other"), "not a fakalab-delay-risk model file"),
    (lambda d: d.update(version=MODEL_VERSION + 1), f"version {MODEL_VERSION + 1}, this "),
    (lambda d: d["model"].update(features=["queue_depth"], means=[0], scales=[1], coefs=[1]),
     "features are not this fakalab's"),
    (lambda d: d["model"].update(scales=[0.0] * len(FEATURES)), "positive"),
    (lambda d: d["model"].pop("coefs"), "missing field coefs"),
    (lambda d: d["model"].update(intercept="high"), "bad value"),
    (lambda d: d["baseline"].update(features=["wait_s"]), "baseline must use queue_depth"),
])
def test_an_unusable_model_file_is_refused_naming_the_problem(change: object, problem: str,
                                                              tmp_path: Path) -> None:
    data = model().to_json()
    change(data)  # type: ignore[operator]
    with pytest.raises(ModelError, match=problem):
        parse_model(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError) as caught:
        load_model(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_a_missing_or_broken_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "none.json")
    (tmp_path / "half.json").write_text('{"format": ')
    with pytest.raises(ModelError, match="not JSON"):
        load_model(tmp_path / "half.json")


def test_the_shipped_model_loads_and_records_its_training_and_held_out_runs() -> None:
    shipped = load_model(SHIPPED_MODEL)
    assert shipped.trained_on
    held = shipped.metrics["held_out"]
    assert not set(held["runs"]) & set(shipped.trained_on)
    assert held["model"]["auc"] > held["baseline"]["auc"]

"""Training and evaluating the delay-risk model from run directories (docs/prediction.md).

Each row of a run's risk_features.csv (what the shop saw when it scored an order) is joined to
the order's outcome in orders.csv by the run directory's one rule (contract/rundir.py
``delays``: from when the buyer paid, late past ``sla_s`` or never delivered; an order still
inside its SLA at the end of the run, or never paid, is left out). The model is a logistic
regression over every feature; the baseline the same over the queue depth alone, fitted on the
same rows. Evaluation is on other runs: ROC AUC, Brier score and the calibration curve.
scikit-learn fits; scoring uses the file's coefficients (contract/delay_risk.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from fakalab.contract.delay_risk import (
    BASELINE_FEATURE,
    FEATURES,
    NON_NEGATIVE,
    RISK_FEATURES_FILE,
    Linear,
    RiskModel,
)
from fakalab.contract.rundir import buyer_paid_at, delays

__all__ = ["Rows", "TrainingError", "evaluate", "load_runs", "predict", "train"]

BINS = 10  # calibration curve: equal-width bins of the predicted probability
Floats = npt.NDArray[np.float64]


class TrainingError(ValueError):
    """Run directories that cannot train or evaluate a model (one line)."""


@dataclass(frozen=True)
class Rows:
    """Scored moments with their outcome: features (rows × FEATURES), delayed, the stage."""

    x: Floats
    delayed: npt.NDArray[np.bool_]
    stage: npt.NDArray[np.str_]
    orders: int
    runs: tuple[str, ...]


def _read_run(run_dir: Path) -> tuple[pd.DataFrame, dict[str, bool]]:
    features = run_dir / RISK_FEATURES_FILE
    if not (run_dir / "run.json").is_file():
        raise TrainingError(f"{run_dir}: not a run directory (no run.json)")
    if not features.is_file():
        raise TrainingError(f"{run_dir}: no {RISK_FEATURES_FILE} (a run of the reference shop "
                            f"with delay_risk observe or act writes it)")
    try:
        info = json.loads((run_dir / "run.json").read_text())
        # a row torn by a crash of the shop (SIGKILL mid-write) is skipped, not guessed at
        rows = pd.read_csv(features, dtype={"order_no": str, "action": str},
                           on_bad_lines="skip")
        orders = pd.read_csv(run_dir / "orders.csv", dtype={"order_no": str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise TrainingError(f"{run_dir}: unreadable: {exc}") from None
    missing = [c for c in ("order_no", "stage", *FEATURES) if c not in rows.columns]
    if missing:
        raise TrainingError(f"{run_dir}/{RISK_FEATURES_FILE}: missing columns "
                            f"{', '.join(missing)} (made by another fakalab version?)")
    rows = rows.dropna(subset=list(FEATURES))  # a torn row, cut short
    ended = float(info.get("ended_at") or np.nanmax(orders[["created_at"]].to_numpy()))
    d = delays(buyer_paid_at(orders["paid_at"], orders["buyer_paid_at"]),
               orders["delivered_at"], float(info.get("sla_s") or 30.0), ended)
    outcome = {no: bool(late) for no, late, decided in
               zip(orders["order_no"], d.delayed, d.decided, strict=True) if decided}
    return rows, outcome


def load_runs(run_dirs: Sequence[Path]) -> Rows:
    """Every scored row of ``run_dirs`` whose order's outcome is decided."""
    if not run_dirs:
        raise TrainingError("no run directories given")
    xs, ys, stages, orders = [], [], [], 0
    for run_dir in run_dirs:
        rows, outcome = _read_run(Path(run_dir))
        keep = rows["order_no"].isin(outcome.keys()).to_numpy()
        kept = rows[keep]
        xs.append(kept[list(FEATURES)].to_numpy(dtype=float))
        ys.append(kept["order_no"].map(outcome).to_numpy(dtype=bool))
        stages.append(kept["stage"].to_numpy(dtype=str))
        orders += int(kept["order_no"].nunique())
    x = np.concatenate(xs)
    if not len(x):
        raise TrainingError("no scored order with a decided outcome in "
                            + ", ".join(str(r) for r in run_dirs))
    if not np.isfinite(x).all():
        raise TrainingError("a feature value is missing or not a number")
    return Rows(x, np.concatenate(ys), np.concatenate(stages), orders,
                tuple(Path(r).name for r in run_dirs))


def _fit(x: Floats, y: npt.NDArray[np.bool_], names: tuple[str, ...]) -> Linear:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise TrainingError("training needs scikit-learn: pip install 'fakalab[model]'"
                            ) from None
    if y.all() or not y.any():
        raise TrainingError(f"the training runs have {'only' if y.all() else 'no'} delayed "
                            f"orders: nothing to learn from (add runs with and without delays)")
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales = np.where(scales > 1e-9, scales, 1.0)  # a constant feature: left as it is
    z = (x - means) / scales
    used = np.ones(len(names), dtype=bool)
    while True:  # a NON_NEGATIVE feature that gets a negative weight is left out, and refit
        fitted = LogisticRegression(C=1.0, max_iter=2000).fit(z[:, used], y)
        coefs = np.zeros(len(names))
        coefs[used] = fitted.coef_[0]
        wrong = [i for i, name in enumerate(names) if name in NON_NEGATIVE and coefs[i] < 0]
        if not wrong:
            break
        used[wrong] = False
    return Linear(names, tuple(map(float, means)), tuple(map(float, scales)),
                  tuple(map(float, coefs)), float(fitted.intercept_[0]))


def predict(part: Linear, x: Floats) -> Floats:
    """``part``'s probabilities for the rows ``x`` (its columns in ``part.features`` order):
    the same formula as ``Linear.probability``, over arrays."""
    z = part.intercept + ((x - np.asarray(part.means)) / np.asarray(part.scales)) @ \
        np.asarray(part.coefs)
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -700, 700))), dtype=float)


def train(run_dirs: Sequence[Path], held_out: Sequence[Path] = (), created_by: str = ""
          ) -> RiskModel:
    """The model and its baseline fitted on ``run_dirs``; evaluated on ``held_out`` (runs it
    was not trained on) when given, the figures kept in the file."""
    rows = load_runs(run_dirs)
    column = FEATURES.index(BASELINE_FEATURE)
    model = RiskModel(_fit(rows.x, rows.delayed, FEATURES),
                      _fit(rows.x[:, [column]], rows.delayed, (BASELINE_FEATURE,)),
                      trained_on=rows.runs, created_by=created_by)
    metrics: dict[str, Any] = {"training": {"rows": len(rows.x), "orders": rows.orders,
                                            "delayed_share": float(rows.delayed.mean())}}
    if held_out:
        metrics["held_out"] = evaluate(model, held_out)
    return RiskModel(model.model, model.baseline, model.trained_on, metrics, created_by)


def _scores(y: npt.NDArray[np.bool_], p: Floats) -> dict[str, float | None]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    both = bool(y.any() and not y.all())
    return {"auc": float(roc_auc_score(y, p)) if both else None,
            "brier": float(brier_score_loss(y, p))}


def calibration(y: npt.NDArray[np.bool_], p: Floats, bins: int = BINS) -> list[dict[str, Any]]:
    """Per equal-width bin of the predicted probability: its rows, mean prediction, observed
    delayed share (the bins with rows only)."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            out.append({"low": b / bins, "high": (b + 1) / bins, "rows": int(mask.sum()),
                        "predicted": float(p[mask].mean()), "observed": float(y[mask].mean())})
    return out


def evaluate(model: RiskModel, run_dirs: Sequence[Path]) -> dict[str, Any]:
    """AUC and Brier of the model and of its queue-depth baseline on ``run_dirs``, overall and
    at creation and payment; the model's calibration curve."""
    rows = load_runs(run_dirs)
    y = rows.delayed
    p = predict(model.model, rows.x)
    q = predict(model.baseline, rows.x[:, [FEATURES.index(BASELINE_FEATURE)]])
    stages = {}
    for stage in ("created", "paid"):
        mask = rows.stage == stage
        if mask.any():
            stages[stage] = {"rows": int(mask.sum()), "model": _scores(y[mask], p[mask]),
                             "baseline": _scores(y[mask], q[mask])}
    return {"runs": list(rows.runs), "rows": len(y), "orders": rows.orders,
            "delayed_share": float(y.mean()), "model": _scores(y, p),
            "baseline": _scores(y, q), "by_stage": stages, "calibration": calibration(y, p)}

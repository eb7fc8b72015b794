"""The delay-risk model: its features, its file and its score (pure; docs/prediction.md).

The shop computes one feature vector for an order at each scoring point (created, paid and the
start of each fulfilment stage) from its live state only, writes it to the run directory
(`risk_features.csv`, columns `RISK_FEATURE_COLUMNS`) and, with a model loaded, scores it: the
probability that the order misses its SLA (paid → delivered later than `sla_s`, or never).
The trainer (`fakalab model train`, simulate/risk_training.py) fits a logistic regression on
those rows joined to orders.csv and writes a model file; the shop loads it and scores with
:func:`score` — a dot product in pure Python, a few microseconds (bench/bench_risk.py).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BASELINE_FEATURE", "FEATURES", "FORMAT", "MODEL_VERSION", "NON_NEGATIVE",
           "RISK_FEATURES_FILE", "RISK_FEATURE_COLUMNS", "SCORED_STAGES", "SHIPPED_MODEL",
           "Linear", "ModelError", "QueueTrend", "RiskModel", "load_model", "parse_model", "score"]

FORMAT = "fakalab-delay-risk"
MODEL_VERSION = 1  # the file format; a model of another version is refused, naming both
SHIPPED_MODEL = Path(__file__).resolve().parent / "models" / "delay-risk.json"
RISK_FEATURES_FILE = "risk_features.csv"
# Where an order is scored: at creation (before payment), when paid, at each stage's start.
SCORED_STAGES = ("created", "paid", "risk_check", "allocating", "delivering")

# The live signals, each a float. Upstream figures are over the shop's 10 s health window;
# a breaker is 0 closed, 0.5 half-open, 1 open; a local product has no supplier (zeros).
FEATURES = (
    "sla_left_s",          # the SLA left: sla_s less the time since payment (sla_s before it)
    "wait_s",              # the shop's own predicted time to delivery from now (its ETA)
    "wait_over_sla",       # wait_s / max(sla_left_s, 1)
    "queue_depth",         # paid orders waiting for a worker
    "queue_trend",         # change of queue_depth per second over the last 10 s
    "throughput_per_s",    # orders delivered per second, recent
    "busy_share",          # share of the workers busy now
    "paid",                # 1 once paid
    "priority",            # the order's priority class (0 = highest)
    "supplier_product",    # 1 when the keys come from a supplier
    "channel_latency_s",   # the order's payment channel: mean latency,
    "channel_error_rate",  # share of failed calls,
    "channel_breaker",     # breaker state
    "supplier_latency_s",  # the supplier the shop would use now: the same three
    "supplier_error_rate",
    "supplier_breaker",
    "risk_latency_s",      # the risk check, which every paid order passes: the same three
    "risk_error_rate",
    "risk_breaker",
)
# An upstream's ill health is never evidence that an order is safe: the trainer keeps these
# weights at zero or above (a negative one, learnt from runs where failover already hid a sick
# upstream, would steer orders towards it).
NON_NEGATIVE = tuple(f for f in FEATURES if f.startswith(("channel_", "supplier_", "risk_")))
BASELINE_FEATURE = "queue_depth"
# One row per scoring point; `risk` is empty with no model loaded, `action` names what the shop
# did on it (`;`-joined: warned, urgent, steered:<upstream>), empty when nothing.
RISK_FEATURE_COLUMNS = ("at", "order_no", "stage", "channel", "supplier", *FEATURES, "risk",
                        "action")


class QueueTrend:
    """The feature queue_trend: the queue's depth sampled at most once a second; its change
    per second over ~10 s (the shop's, and the model's of a shop acting on the score)."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, int]] = deque()

    def trend(self, now: float, depth: int) -> float:
        samples = self.samples
        if not samples or now - samples[-1][0] >= 1.0:
            samples.append((now, depth))
        while len(samples) > 1 and samples[0][0] < now - self.window_s:
            samples.popleft()
        at, then = samples[0]
        return (depth - then) / (now - at) if now - at >= 1.0 else 0.0


class ModelError(ValueError):
    """A model file that cannot be used (one line: the file and the problem)."""


@dataclass(frozen=True)
class Linear:
    """A logistic regression over standardised features: p = 1 / (1 + exp(-(b + Σ wᵢ zᵢ))),
    zᵢ = (xᵢ - meanᵢ) / scaleᵢ."""

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    coefs: tuple[float, ...]
    intercept: float

    def __post_init__(self) -> None:
        n = len(self.features)
        if not n or any(len(v) != n for v in (self.means, self.scales, self.coefs)):
            raise ModelError("features, means, scales and coefs must have the same length")
        if any(s <= 0 or not math.isfinite(s) for s in self.scales):
            raise ModelError("every scale must be a positive number")
        # folded once: w'ᵢ = wᵢ / scaleᵢ, b' = b - Σ w'ᵢ meanᵢ (scoring is then one dot product)
        folded = tuple(w / s for w, s in zip(self.coefs, self.scales, strict=True))
        object.__setattr__(self, "_weights", folded)
        object.__setattr__(self, "_bias", self.intercept - sum(
            w * m for w, m in zip(folded, self.means, strict=True)))

    def probability(self, values: Sequence[float]) -> float:
        z = self._bias  # type: ignore[attr-defined]
        for w, x in zip(self._weights, values, strict=False):  # type: ignore[attr-defined]
            z += w * x
        if z < -700.0:  # exp(-z) would overflow; the probability is 0 to a double
            return 0.0
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "means": list(self.means),
                "scales": list(self.scales), "coefs": list(self.coefs),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: Any) -> Linear:
        if not isinstance(data, dict):
            raise ModelError("a model part is not an object")
        try:
            return cls(tuple(str(f) for f in data["features"]),
                       tuple(float(v) for v in data["means"]),
                       tuple(float(v) for v in data["scales"]),
                       tuple(float(v) for v in data["coefs"]), float(data["intercept"]))
        except KeyError as exc:
            raise ModelError(f"missing field {exc.args[0]}") from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"bad value: {exc}") from None


@dataclass(frozen=True)
class RiskModel:
    """A model file: the model over FEATURES (in that order), the queue-depth baseline fitted
    on the same runs, and what it was trained on and how it did on runs it was not."""

    model: Linear
    baseline: Linear
    trained_on: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)  # held-out: AUC, Brier, calibration
    created_by: str = ""

    def probability(self, values: Sequence[float]) -> float:
        return self.model.probability(values)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": MODEL_VERSION, "model": self.model.to_json(),
                "baseline": self.baseline.to_json(), "trained_on": list(self.trained_on),
                "metrics": self.metrics, "created_by": self.created_by}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")


def parse_model(data: Any) -> RiskModel:
    """A model from its JSON form; ModelError naming the problem."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"not a {FORMAT} model file")
    version = data.get("version")
    if version != MODEL_VERSION:
        raise ModelError(f"model format version {version}, this fakalab reads version "
                         f"{MODEL_VERSION}")
    model = Linear.from_json(data.get("model"))
    if model.features != FEATURES:
        raise ModelError(f"the model's features are not this fakalab's ({len(model.features)} "
                         f"vs {len(FEATURES)}: retrain it with `fakalab model train`)")
    baseline = Linear.from_json(data.get("baseline"))
    if baseline.features != (BASELINE_FEATURE,):
        raise ModelError(f"the baseline must use {BASELINE_FEATURE} alone")
    metrics = data.get("metrics") or {}
    return RiskModel(model, baseline, tuple(str(r) for r in data.get("trained_on") or ()),
                     metrics if isinstance(metrics, dict) else {},
                     str(data.get("created_by") or ""))


def load_model(path: Path | str) -> RiskModel:
    """The model file at ``path``; ModelError (one line, naming the file) if it is unusable."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ModelError(f"{path}: not JSON: {exc}") from None
    try:
        return parse_model(data)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None


def score(model: RiskModel, values: Sequence[float]) -> float:
    """The probability that the order misses its SLA, from its FEATURES values."""
    return model.probability(values)

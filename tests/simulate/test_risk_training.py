"""Training the delay-risk model from run directories (simulate/risk_training.py) and
`fakalab model`: on synthetic runs made like a drill's — a supplier that slows down for a while,
the queue following it late — the model beats the queue-depth baseline on runs it was not
trained on; with the signal removed it does not (so the first test can fail)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fakalab.contract.delay_risk import (
    FEATURES,
    NON_NEGATIVE,
    RISK_FEATURE_COLUMNS,
    RISK_FEATURES_FILE,
    load_model,
)
from fakalab.contract.rundir import ORDER_COLUMNS
from fakalab.simulate.risk_training import TrainingError, evaluate, load_runs, predict, train

ROOT = Path(__file__).resolve().parents[2]
SLA = 30.0


def synthetic_run(path: Path, seed: int, signal: bool = True, orders: int = 600,
                  decoy: bool = False) -> Path:
    """A run directory: orders arriving 5/s; from 40 s to 80 s the supplier is slow (its
    latency up to 1.8 s) and supplier orders paid then are late with high probability; the
    queue fills only from 60 s (it lags the cause), and is also deep for a while with no harm
    (a burst the workers clear in time). ``signal=False``: outcomes independent of latency;
    ``decoy``: the payment channel is slow exactly when nothing is late (failover hid it)."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    start = 1_800_000_000.0
    feature_rows, order_rows = [], []
    for i in range(orders):
        t = i / 5.0
        supplier = rng.random() < 0.5
        slow = 40 <= t < 80
        latency = (0.3 + 1.5 * (t - 40) / 40 if slow else 0.02) + rng.normal(0, 0.05)
        queue = max(0.0, (t - 60) * 2 if 60 <= t < 90 else 0.0) + \
            (25 if 100 <= t < 110 else 0) + rng.poisson(2)
        risk = 0.03 + (0.8 * (latency > 0.8) if supplier else 0.0) + 0.15 * (queue > 30)
        late = rng.random() < (min(risk, 0.95) if signal else 0.2)
        no = f"O{seed}-{i}"
        paid = start + t + 5
        order_rows.append({"order_no": no, "product_id": "vip-month" if supplier else "steam-50",
                           "priority": 0 if supplier else 1, "quantity": 1, "amount": "9.90",
                           "channel": "payment-a", "persona": "buyer", "created_at": start + t,
                           "paid_at": paid, "buyer_paid_at": "",
                           "delivered_at": paid + (45 if late else 3), "final_state": "delivered",
                           "delayed": "true" if late else "false"})
        values = dict.fromkeys(FEATURES, 0.0)
        values.update(sla_left_s=SLA, wait_s=5 + queue / 8, wait_over_sla=(5 + queue / 8) / SLA,
                      queue_depth=queue, throughput_per_s=5.0, priority=0 if supplier else 1,
                      supplier_product=float(supplier),
                      supplier_latency_s=max(latency, 0.0) if supplier else 0.0,
                      channel_latency_s=(2.0 if decoy and not late else 0.05)
                      + rng.normal(0, 0.01))
        for stage, at in (("created", start + t), ("paid", paid)):
            feature_rows.append({"at": at, "order_no": no, "stage": stage, "channel": "payment-a",
                                 "supplier": "supplier-a" if supplier else "",
                                 **{k: f"{v:.6g}" for k, v in values.items()},
                                 "paid": 1.0 if stage == "paid" else 0.0,
                                 "risk": "", "action": ""})
    for name, columns, rows in (("orders.csv", ORDER_COLUMNS, order_rows),
                                (RISK_FEATURES_FILE, RISK_FEATURE_COLUMNS, feature_rows)):
        with open(path / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    (path / "run.json").write_text(json.dumps({"format_version": 2, "run_id": path.name,
                                               "sla_s": SLA, "ended_at": start + 400}))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    base = tmp_path_factory.mktemp("runs")
    return {"train": [synthetic_run(base / f"train-{s}", s) for s in (1, 2, 3)],
            "held": [synthetic_run(base / f"held-{s}", s) for s in (11, 12)],
            "noise": [synthetic_run(base / f"noise-{s}", s, signal=False) for s in (21, 22, 23)]}


def test_the_model_beats_the_queue_depth_baseline_on_held_out_runs(
        runs: dict[str, list[Path]]) -> None:
    model = train(runs["train"], runs["held"])
    held = model.metrics["held_out"]
    assert held["model"]["auc"] > held["baseline"]["auc"] + 0.1
    assert held["model"]["brier"] < held["baseline"]["brier"]
    assert held["by_stage"]["created"]["model"]["auc"] > \
        held["by_stage"]["created"]["baseline"]["auc"]
    assert model.trained_on == tuple(p.name for p in runs["train"])
    bins = held["calibration"]
    assert sum(b["rows"] for b in bins) == held["rows"]
    # roughly calibrated: where it says likely, most are late; where unlikely, few
    assert bins[-1]["observed"] > 0.5 and bins[0]["observed"] < 0.2


def test_without_the_signal_the_model_does_not_beat_the_baseline(
        runs: dict[str, list[Path]]) -> None:
    model = train(runs["noise"][:2], runs["noise"][2:])
    held = model.metrics["held_out"]
    assert held["model"]["auc"] < held["baseline"]["auc"] + 0.1


def test_an_upstreams_ill_health_never_lowers_the_risk(tmp_path: Path) -> None:
    decoyed = [synthetic_run(tmp_path / f"decoy-{s}", s, decoy=True) for s in (31, 32)]
    model = train(decoyed)
    weights = dict(zip(model.model.features, model.model.coefs, strict=True))
    assert weights["channel_latency_s"] == 0.0  # it would be strongly negative, unconstrained
    assert all(weights[f] >= 0 for f in NON_NEGATIVE)
    assert weights["supplier_latency_s"] > 0


def test_the_array_scores_are_the_shops_scores(runs: dict[str, list[Path]],
                                               tmp_path: Path) -> None:
    model = train(runs["train"][:1])
    model.save(tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    rows = load_runs(runs["held"][:1])
    fast = predict(loaded.model, rows.x[:50])
    assert [loaded.probability(list(x)) for x in rows.x[:50]] == pytest.approx(list(fast))
    assert evaluate(loaded, runs["held"][:1])["model"]["auc"] > 0.7


def test_runs_that_cannot_train_say_why_in_one_line(runs: dict[str, list[Path]],
                                                    tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "run.json").write_text("{}")
    with pytest.raises(TrainingError, match=r"no risk_features\.csv"):
        load_runs([bare])
    with pytest.raises(TrainingError, match="not a run directory"):
        load_runs([tmp_path])
    calm = synthetic_run(tmp_path / "calm", 5, signal=False, orders=20)
    with open(calm / "orders.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # every order on time
        row["delivered_at"] = str(float(row["paid_at"]) + 1)
    with open(calm / "orders.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ORDER_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(TrainingError, match="no delayed orders"):
        train([calm])


def fakalab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fakalab", "model", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_commands_train_evaluate_and_refuse_in_one_line(runs: dict[str, list[Path]],
                                                            tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    trained = fakalab("train", *map(str, runs["train"]), "--held-out", str(runs["held"][0]),
                      "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    assert "baseline (queue depth)" in trained.stdout and out.exists()
    evaluated = fakalab("evaluate", str(out), str(runs["held"][1]), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    figures = json.loads(evaluated.stdout)
    assert figures["model"]["auc"] > figures["baseline"]["auc"]
    bad = tmp_path / "bad.json"
    for text, problem in (("{", "not JSON"), ('{"format": "x"}', "not a fakalab-delay-risk"),
                          ('{"format": "fakalab-delay-risk", "version": 99}', "version 99")):
        bad.write_text(text)
        refused = fakalab("evaluate", str(bad), str(runs["held"][0]))
        assert refused.returncode == 1 and problem in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "run.json").write_text("{}")
    refused = fakalab("train", str(empty), "--out", str(tmp_path / "x.json"))
    assert refused.returncode == 1 and "no risk_features.csv" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_rows_torn_by_a_crash_are_skipped(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path / "torn", 7, orders=50)
    before = len(load_runs([run]).x)
    with open(run / RISK_FEATURES_FILE, "a") as handle:
        handle.write("1800000001.0,O7-3,pa\n")  # cut short, then the restarted shop's rows
        handle.write("1800000002.0,O7-4,paid" + ",1" * (len(RISK_FEATURE_COLUMNS) + 2) + "\n")
    assert len(load_runs([run]).x) == before

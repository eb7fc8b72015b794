"""Cost of the delay-risk model in the shop: microseconds per score, and per scoring point
(the live feature vector, then the score), on the shipped model (contract/models/delay-risk.json).

    .venv/bin/python bench/bench_risk.py
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from fakalab.contract.delay_risk import FEATURES, SHIPPED_MODEL, load_model, score
from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop.breaker import Breaker
from fakalab.reference_shop.delay_risk import DelayRisk, FeatureLog, Subject
from fakalab.reference_shop.eta import Promises, StageClock, Throughput
from fakalab.reference_shop.queue import WorkQueue
from fakalab.reference_shop.statuspage import ComponentHealth


class _Upstream:
    def __init__(self, name: str, now: float, rng: random.Random) -> None:
        self.name, self.breaker, self.health = name, Breaker(), ComponentHealth()
        for i in range(200):  # a busy window: 20 calls a second
            self.health.record(now - 10 + i / 20, rng.random() > 0.05, rng.uniform(5, 900))


def main(rounds: int = 200_000) -> None:
    model = load_model(SHIPPED_MODEL)
    rng = random.Random(1)
    rows = [[rng.uniform(0, 5) for _ in FEATURES] for _ in range(1000)]
    started = time.perf_counter()
    for i in range(rounds):
        score(model, rows[i % 1000])
    per_score = (time.perf_counter() - started) / rounds * 1e6
    now = time.time()
    queue = WorkQueue(max_wait_s=10.0)
    for i in range(50):
        queue.push(f"Q{i}", i % 3, now - 5 + i / 10)
    throughput = Throughput()
    for i in range(100):
        throughput.record(now - 10 + i / 10)
    names = ("payment-a", "payment-b", "supplier-a", "supplier-b", "risk", "notify")
    upstreams = {n: _Upstream(n, now, rng) for n in names}
    promises = Promises(queue, StageClock(), throughput, {n: u.health for n, u in
                                                          upstreams.items()}, 4, 5.0)
    risk = DelayRisk(ShopSettings(delay_risk="act"), model, queue, promises,
                     upstreams, {"A", "B"})  # type: ignore[arg-type]
    subject = Subject("X", 1, True, "payment-a", now - 3)
    points = rounds // 10
    started = time.perf_counter()
    for _ in range(points):
        risk.assess("paid", subject, now)
    per_point = (time.perf_counter() - started) / points * 1e6
    with tempfile.TemporaryDirectory() as tmp:
        risk.feature_log = FeatureLog(Path(tmp) / "risk_features.csv")
        started = time.perf_counter()
        for _ in range(points):
            risk.assess("paid", subject, now)
        risk.close()
        logged = (time.perf_counter() - started) / points * 1e6
    print(f"score: {per_score:.2f} µs; scoring point (features + score): {per_point:.1f} µs; "
          f"with its risk_features.csv row: {logged:.1f} µs ({len(FEATURES)} features, "
          f"{rounds} scores, {points} points)")


if __name__ == "__main__":
    main()

"""The drill's dispatcher and journeys, run for real without HTTP (a child of test_schedule)."""

import json
import math
import random
import sys
from typing import Any

from fakalab.contract.profile import load_profile
from fakalab.contract.scenario import load_scenario
from fakalab.scenarios.locust import journeys as journeys_module
from fakalab.scenarios.locust.arrivals import arrival_times, pick
from fakalab.scenarios.trace_sampler import TraceSampler


class _Response:
    def __init__(self, status: int, body: dict[str, Any] | None = None) -> None:
        self.status_code, self._body = status, body or {}
        self.text = json.dumps(self._body)
        self.headers: dict[str, str] = {}
        self.request_meta: dict[str, Any] = {}

    def json(self) -> dict[str, Any]:
        return self._body

    def __enter__(self) -> "_Response":
        return self

    def __exit__(self, *exc: object) -> None: ...

    def success(self) -> None: ...


class _Session:
    """Answers like a shop that delivers at once; remembers what the journey asked for."""

    def __init__(self) -> None:
        self.product: str | None = None
        self.sse = False

    def request(self, method: str, url: str, **kwargs: Any) -> _Response:
        if method == "POST":
            return self.post(url, **kwargs)
        return self.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> _Response:
        if url.endswith("/api/orders"):
            self.product = kwargs["json"]["product_id"]
            return _Response(201, {"order_no": "X", "token": "t", "pay_url": "/pay"})
        return _Response(200)

    def get(self, url: str, **kwargs: Any) -> _Response:
        if kwargs.get("stream"):
            self.sse = True
            return _Response(500)
        return _Response(200, {"state": "delivered", "message": "", "eta_at": None})


class _Writer:
    def poll(self, *args: Any) -> None: ...

    def ticket(self, *args: Any) -> None: ...

    def attempt(self, *args: Any) -> None: ...

    def buyer(self, *args: Any) -> None: ...


def _dispatched(name: str, duration: float, traced: float = 0.0
                ) -> list[tuple[float, str, str | None, float, bool]]:
    """What the drill's dispatcher and journeys do, run for real (without HTTP); ``traced``:
    the share of journeys traced (0: no sampler, as in an untraced drill)."""
    sampler = TraceSampler(traced) if traced else None
    scenario = load_scenario(name)
    profile = load_profile("reference")
    seed = scenario.seed * 1009
    rng = random.Random(seed + 1)
    mix = scenario.load.personas.model_dump()
    patience: list[float] = []
    original = journeys_module.Watch

    def watch(paid_at: float, patience_s: float, max_wait_s: float) -> Any:
        patience.append(patience_s)
        return original(paid_at, patience_s, max_wait_s)

    journeys_module.Watch = watch  # type: ignore[misc,assignment]
    out = []
    try:
        for offset in arrival_times(scenario.load.shape, duration, seed, 1.0):
            persona, journey_rng = pick(mix, rng), random.Random(rng.getrandbits(32))
            session = _Session()
            before = len(patience)
            journeys_module.Journeys(session, scenario.load.buyers, _Writer(),  # type: ignore[arg-type]
                                     profile, "", sampler=sampler).run(persona, journey_rng)
            if persona != "browser":
                out.append((offset, persona, session.product,
                            patience[-1] if len(patience) > before else math.nan, session.sse))
    finally:
        journeys_module.Watch = original  # type: ignore[misc]
    return out



if __name__ == "__main__":
    rows = _dispatched(sys.argv[1], float(sys.argv[2]),
                       float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
    print(json.dumps([[o, p, pr, None if math.isnan(pa) else pa, sse]
                      for o, p, pr, pa, sse in rows]))

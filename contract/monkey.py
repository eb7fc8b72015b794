"""The chaos monkey: a seeded random timeline of network faults, business faults and SIGKILLs.

A scenario's ``monkey:`` section is expanded, when the scenario is loaded, into ordinary
``drill.faults`` (ids ``monkey-1`` …), so the resolved ``scenario.yaml`` of a run lists exactly
what was injected and a seed reproduces it. Pure: no I/O.

    monkey:
      network_per_min: 6        # random toxics / `down` on the shop's links
      business_per_min: 4       # random fault switches of the upstream services
      kill: [shop, supplier-a]  # SIGKILL each once, restart after down_s (a name twice: twice)
      fault_s: [1, 4]           # how long a network or business fault lasts
      down_s: [0.5, 2]          # how long a killed process stays down
      start: 1s                 # nothing before
      quiet: 3s                 # everything is over this long before the load ends
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fakalab.chaos.plan import BUSINESS_FIELDS, Duration, service_family
from fakalab.contract.services import SERVICES

__all__ = ["Monkey", "expand", "fault_window", "monkey_faults"]

PROCESSES = ("shop", *SERVICES)

# Network faults: toxic type -> attribute ranges (inclusive, whole numbers), or `down`.
NETWORK: dict[str, dict[str, tuple[int, int]]] = {
    "latency": {"latency": (100, 1500), "jitter": (0, 300)},
    "timeout": {"timeout": (200, 3000)},
    "reset_peer": {"timeout": (0, 500)},
    "bandwidth": {"rate": (1, 32)},
    "slow_close": {"delay": (100, 2000)},
    "limit_data": {"bytes": (64, 4096)},
    "down": {},
}
# Business faults: switch -> range; every switch belongs to BUSINESS_FIELDS of its family.
BUSINESS: dict[str, dict[str, tuple[int, int]]] = {
    "payment": {"callback_drop_pct": (20, 80), "duplicate_pct": (10, 60),
                "wrong_amount_pct": (10, 50), "error_pct": (10, 60), "latency_ms": (100, 1200),
                "query_latency_ms": (100, 1500)},
    "supplier": {"out_of_stock_pct": (10, 60), "error_pct": (10, 80), "latency_ms": (100, 1500)},
    "risk": {"false_positive_pct": (5, 40), "error_pct": (10, 80), "latency_ms": (100, 1500)},
    "notify": {"failure_pct": (20, 100), "latency_ms": (100, 1500)},
}


class Monkey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int | None = None  # default: the scenario's seed
    network_per_min: Annotated[float, Field(ge=0, le=600)] = 6.0
    business_per_min: Annotated[float, Field(ge=0, le=600)] = 4.0
    kill: list[str] = Field(default_factory=lambda: ["shop"])
    links: list[str] = Field(default_factory=lambda: list(SERVICES))
    fault_s: tuple[float, float] = (1.0, 4.0)
    down_s: tuple[float, float] = (0.5, 2.0)
    start: Duration = 1.0
    quiet: Duration = 3.0

    @field_validator("kill")
    @classmethod
    def _processes(cls, value: list[str]) -> list[str]:
        _only(value, PROCESSES, "cannot kill", "processes")
        return value

    @field_validator("links")
    @classmethod
    def _links(cls, value: list[str]) -> list[str]:
        _only(value, SERVICES, "no upstream", "there are")
        if not value:
            raise ValueError("name at least one upstream")
        return value

    @field_validator("fault_s", "down_s")
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError("a range is [low, high] with 0 < low <= high")
        return value

    @model_validator(mode="after")
    def _fits(self) -> Monkey:
        if self.down_s[1] > 30:
            raise ValueError("down_s above 30 s: a drill's restart would outlast its drain")
        return self


def _only(names: list[str], known: Iterable[str], problem: str, listing: str) -> None:
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"{problem} {', '.join(unknown)} ({listing}: {', '.join(known)})")


def fault_window(monkey: Monkey, duration: float) -> tuple[float, float]:
    """When faults may happen: [start, duration - quiet]; ValueError when that is empty."""
    low, high = monkey.start, duration - monkey.quiet
    longest = max(monkey.fault_s[1], monkey.down_s[1] * max(1, len(monkey.kill)))
    if high - low < longest:
        raise ValueError(f"the monkey needs at least {longest:g} s between start "
                         f"({low:g} s) and duration - quiet ({high:g} s)")
    return low, high


def _count(rate_per_min: float, span_s: float) -> int:
    return round(rate_per_min * span_s / 60.0) if rate_per_min > 0 else 0


def _attributes(rng: random.Random, ranges: dict[str, tuple[int, int]]) -> dict[str, int]:
    return {name: rng.randint(low, high) for name, (low, high) in ranges.items()}


def _timed(rng: random.Random, low: float, high: float, span: tuple[float, float]
           ) -> tuple[float, float]:
    length = round(rng.uniform(*span), 2)
    return round(rng.uniform(low, high - length), 2), length


def monkey_faults(monkey: Monkey, duration: float, seed: int) -> list[dict[str, Any]]:
    """The seeded fault list (plan syntax) for a scenario of `duration` seconds."""
    rng = random.Random(f"fakalab-monkey:{monkey.seed if monkey.seed is not None else seed}")
    low, high = fault_window(monkey, duration)
    faults: list[dict[str, Any]] = []
    for _ in range(_count(monkey.network_per_min, high - low)):
        kind = rng.choice(sorted(NETWORK))
        start, length = _timed(rng, low, high, monkey.fault_s)
        fault: Any = "down" if kind == "down" else {kind: _attributes(rng, NETWORK[kind])}
        entry = {"link": f"shop->{rng.choice(monkey.links)}", "fault": fault, "start": start,
                 "duration": length}
        if kind != "down":
            entry |= {"stream": rng.choice(["downstream", "upstream"]),
                      "toxicity": round(rng.uniform(0.5, 1.0), 2)}
        faults.append(entry)
    # An upstream that is killed restarts with default switches: leave its switches alone.
    switchable = [s for s in monkey.links if s not in monkey.kill and service_family(s)]
    for _ in range(_count(monkey.business_per_min, high - low) if switchable else 0):
        service = rng.choice(switchable)
        family = service_family(service)
        assert family is not None and set(BUSINESS[family]) <= set(BUSINESS_FIELDS[family])
        switch = rng.choice(sorted(BUSINESS[family]))
        start, length = _timed(rng, low, high, monkey.fault_s)
        faults.append({"link": f"shop->{service}", "start": start, "duration": length,
                       "fault": {"business": _attributes(rng, {switch: BUSINESS[family][switch]})}})
    for name in sorted(set(monkey.kill)):
        times = monkey.kill.count(name)
        slot = (high - low) / times  # one kill per slot, so kills of a process never overlap
        for i in range(times):
            start, length = _timed(rng, low + i * slot, low + (i + 1) * slot, monkey.down_s)
            faults.append({"link": name, "fault": "kill", "start": start, "duration": length})
    faults.sort(key=lambda f: (f["start"], f["link"]))
    return [{"id": f"monkey-{i + 1}", **f} for i, f in enumerate(faults)]


def expand(data: dict[str, Any], monkey: Monkey, duration: float, seed: int) -> dict[str, Any]:
    """Scenario data with the monkey's faults added to `drill.faults` and `monkey` removed."""
    faults = monkey_faults(monkey, duration, seed)
    drill = dict(data.get("drill") or {})
    kills = ", ".join(monkey.kill) or "nothing"
    used = monkey.seed if monkey.seed is not None else seed
    drill.setdefault("title", f"chaos monkey (seed {used})")
    drill.setdefault("description", f"{len(faults)} random faults; kills {kills}")
    drill["faults"] = [*drill.get("faults", []), *faults]
    return {key: value for key, value in data.items() if key != "monkey"} | {"drill": drill}

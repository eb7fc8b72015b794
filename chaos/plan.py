"""Drill plans: a YAML timeline of faults plus a steady-state hypothesis, validated by pydantic.

`load_plan(path)` returns a `Plan` or raises `PlanError` whose lines name the file, the YAML line
and the field (`plan.yaml:12: faults[0].duration: ...`).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fakalab.chaos.tolerance import parse_tolerance
from fakalab.chaos.toxics import TOXIC_ATTRIBUTES
from fakalab.chaos.yamldoc import YamlProblems, load_mapping, problems_of

__all__ = [
    "BUSINESS_FIELDS",
    "FaultAction",
    "FaultSpec",
    "HttpProbe",
    "MetricProbe",
    "Plan",
    "PlanError",
    "SteadyState",
    "load_plan",
    "parse_duration",
    "parse_plan",
    "proxy_name",
    "service_family",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# Fault switches of the reference shop's upstream services (docs/upstreams.md), by family.
BUSINESS_FIELDS: dict[str, tuple[str, ...]] = {
    "payment": ("callback_delay", "callback_drop_pct", "duplicate_pct", "wrong_amount_pct",
                "query_latency_ms", "error_pct", "latency_ms", "retry_scale"),
    "supplier": ("out_of_stock_pct", "error_pct", "latency_ms"),
    "risk": ("false_positive_pct", "latency_ms", "error_pct"),
    "notify": ("failure_pct", "latency_ms"),
}


def parse_duration(value: Any) -> float:
    """`30s`, `2m`, `500ms`, `1h` or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        found = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
        if not found:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 2m, 500ms or seconds)")
        seconds = float(found.group(1)) * _UNITS[found.group(2) or "s"]
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _announce(value: Any) -> Any:
    if value is True or value is False or value == "false_alarm":
        return value
    raise ValueError(f"announce is true, false or false_alarm (got {value!r})")


def proxy_name(link: str) -> str:
    """The Toxiproxy proxy of a link: `shop->payment-a` → `shop_payment-a`."""
    source, _, target = link.partition("->")
    return f"{source}_{target}"


# Services named otherwise that have a family's switches: the 易支付 gateway (`epay`), which a
# drilled shop of any make reaches as its `gateway`, has a payment channel's.
FAMILY_OF: dict[str, str] = {"epay": "payment", "gateway": "payment"}


def service_family(service: str) -> str | None:
    """`payment-a` → `payment`; `risk` → `risk`; `gateway` → `payment`; None for a service
    with no fault switches."""
    family = FAMILY_OF.get(service, service.split("-")[0])
    return family if family in BUSINESS_FIELDS else None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaultAction(_Model):
    """What a fault does: a toxic, `down` (proxy disabled), business switches of a service, or
    `kill` (SIGKILL of a process the runner controls; restarted when the fault ends)."""

    kind: Literal["toxic", "down", "business", "kill"]
    type: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        if raw in ("down", "kill"):
            return {"kind": raw}
        if isinstance(raw, dict) and len(raw) == 1 and "kind" not in raw:
            ((key, value),) = raw.items()
            if key == "business":
                return {"kind": "business", "attributes": value}
            if key in TOXIC_ATTRIBUTES:
                return {"kind": "toxic", "type": key, "attributes": value or {}}
            raise ValueError(f"unknown fault {key!r}; use down, kill, business or one of "
                             f"{', '.join(TOXIC_ATTRIBUTES)}")
        if isinstance(raw, dict):
            return raw
        raise ValueError("a fault is `down`, `kill`, {business: {...}} or "
                         "{TOXIC_TYPE: {attributes}}")

    @model_validator(mode="after")
    def _attributes(self) -> FaultAction:
        if self.kind == "toxic":
            known = TOXIC_ATTRIBUTES.get(self.type)
            if known is None:
                raise ValueError(f"unknown toxic type {self.type!r}")
            for key, value in self.attributes.items():
                if key not in known:
                    raise ValueError(f"{self.type} has no attribute {key!r} (it has: "
                                     f"{', '.join(known) or 'none'})")
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{self.type}.{key} must be a whole number >= 0")
        if self.kind == "business" and not self.attributes:
            raise ValueError("a business fault sets at least one switch")
        return self


class FaultSpec(_Model):
    """One fault: what (`fault`), where (`link` `shop->payment-a`; for `kill`, a process name
    such as `shop` or `supplier-a`), when (`start`) and for how long (`duration`)."""

    id: str = ""
    link: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(->[A-Za-z0-9_.-]+)?$")]
    fault: FaultAction
    start: Duration = 0.0
    duration: Duration
    toxicity: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    stream: Literal["upstream", "downstream"] = "downstream"
    # The provider's own word on it (its status page, docs/chaos.md#announcements): false
    # (silent), true (announced while the fault lasts) or false_alarm (announced, and the fault
    # is not injected at all).
    announce: Annotated[bool | Literal["false_alarm"], BeforeValidator(_announce)] = False
    announce_status: Literal["degraded_performance", "partial_outage", "major_outage"] | None = (
        None)
    announce_after: Duration = 0.0  # the provider's lag: announced this long after `start`

    @property
    def announced(self) -> bool:
        return self.announce is not False

    @property
    def false_alarm(self) -> bool:
        return self.announce == "false_alarm"

    @property
    def announced_status(self) -> str:
        """The component status announced: as given, else major_outage for `down` and
        partial_outage for anything else."""
        if self.announce_status is not None:
            return self.announce_status
        return "major_outage" if self.fault.kind == "down" else "partial_outage"

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def proxy(self) -> str:
        return proxy_name(self.link)

    @property
    def service(self) -> str:
        """The upstream at the link's far end; for a `kill`, the process killed."""
        source, arrow, target = self.link.partition("->")
        return target if arrow else source

    @property
    def kind(self) -> str:
        """The faults.csv `kind`: toxic type, `down`, `sigkill`, e.g.
        `payment.callback_drop_pct`, or `false_alarm` (an announcement with no fault)."""
        if self.false_alarm:
            return "false_alarm"
        if self.fault.kind == "toxic":
            return self.fault.type
        if self.fault.kind == "kill":
            return "sigkill"
        if self.fault.kind == "down":
            return "down"
        family = service_family(self.service) or self.service
        return f"{family}.{'+'.join(sorted(self.fault.attributes))}"

    @model_validator(mode="after")
    def _target(self) -> FaultSpec:
        is_link = "->" in self.link
        if self.fault.kind == "kill" and is_link:
            raise ValueError(f"a kill names a process, not a link: use link: "
                             f"{self.service} (got {self.link!r})")
        if self.fault.kind != "kill" and not is_link:
            raise ValueError(f"{self.fault.kind} faults need a link SOURCE->TARGET such as "
                             f"shop->payment-a (got {self.link!r}; a bare name is only for "
                             f"kill)")
        if self.duration <= 0:
            raise ValueError("duration must be above 0 (for a kill: the time until the "
                             "restart)")
        self._check_announcement()
        if self.fault.kind != "business":
            return self
        family = service_family(self.service)
        if family is None:
            raise ValueError(f"business faults apply to payment-*, supplier-*, risk, notify "
                             f"and the gateway; not {self.service!r}")
        unknown = sorted(set(self.fault.attributes) - set(BUSINESS_FIELDS[family]))
        if unknown:
            raise ValueError(f"{self.service} has no fault switch {', '.join(unknown)} (it has: "
                             f"{', '.join(BUSINESS_FIELDS[family])})")
        return self


    def _check_announcement(self) -> None:
        if not self.announced:
            if self.announce_status is not None or self.announce_after:
                raise ValueError("announce_status and announce_after need announce: true or "
                                 "false_alarm")
            return
        if self.announce_after >= self.duration:
            raise ValueError(f"announce_after ({self.announce_after:g} s) must be shorter than "
                             f"the fault ({self.duration:g} s)")
        if service_family(self.service) is None:
            raise ValueError(f"announce: only an upstream with a status page announces "
                             f"(payment-*, supplier-*, risk, notify, the gateway); not "
                             f"{self.service!r}")
        if self.fault.kind == "kill":
            raise ValueError(f"announce: a killed {self.service} cannot announce (its status "
                             f"page goes down with it)")


def _tolerance(raw: Any) -> Any:
    parse_tolerance(raw)
    return raw


ToleranceField = Annotated[Any, BeforeValidator(_tolerance)]


class HttpProbe(_Model):
    type: Literal["http"]
    name: str
    url: str
    method: Literal["GET", "POST", "HEAD"] = "GET"
    status: int = 200
    json_path: str | None = None
    tolerance: ToleranceField = None
    timeout: Duration = 3.0

    @model_validator(mode="after")
    def _path_needs_tolerance(self) -> HttpProbe:
        if self.json_path is not None and self.tolerance is None:
            raise ValueError("json_path needs a tolerance to compare the value with")
        return self


class MetricProbe(_Model):
    type: Literal["metric"]
    name: str
    url: str
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    tolerance: ToleranceField
    timeout: Duration = 3.0


Probe = Annotated[HttpProbe | MetricProbe, Field(discriminator="type")]


class SteadyState(_Model):
    probes: list[Probe] = Field(default_factory=list)
    interval: Duration = 5.0
    max_failures: Annotated[int, Field(ge=1)] = 3

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("interval must be above 0")
        return value


class Plan(_Model):
    title: str
    description: str = ""
    toxiproxy: str | None = None
    upstreams: dict[str, str] = Field(default_factory=dict)
    steady_state: SteadyState = Field(default_factory=SteadyState)
    faults: Annotated[list[FaultSpec], Field(min_length=1)]
    rollback_grace: Duration = 30.0

    @model_validator(mode="before")
    @classmethod
    def _fault_ids(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and isinstance(raw.get("faults"), list):
            faults = [
                {"id": f"f{i + 1}"} | fault if isinstance(fault, dict) else fault
                for i, fault in enumerate(raw["faults"])
            ]
            return raw | {"faults": faults}
        return raw

    @model_validator(mode="after")
    def _unique_ids(self) -> Plan:
        seen: set[str] = set()
        for fault in self.faults:
            if fault.id in seen:
                raise ValueError(f"two faults have the id {fault.id!r}")
            seen.add(fault.id)
        kills = sorted((f for f in self.faults if f.fault.kind == "kill"),
                       key=lambda f: (f.link, f.start))
        for first, second in itertools.pairwise(kills):
            if first.link == second.link and second.start < first.end:
                raise ValueError(f"kills {first.id} and {second.id} of {first.link} overlap: "
                                 f"a process is killed again only after its restart")
        return self

    @property
    def end(self) -> float:
        return max(fault.end for fault in self.faults)


class PlanError(Exception):
    """A plan that cannot be run; `problems` are `file:line: field: message` strings."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_NOISE = frozenset({"http", "metric", "function-before"})


def parse_plan(text: str, source: str = "<plan>") -> Plan:
    """Validate a plan's YAML text; PlanError names the line and the field of each problem."""
    try:
        data, lines = load_mapping(text, source, "a plan is a YAML mapping with title and faults")
    except YamlProblems as exc:
        raise PlanError(exc.problems) from None
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(problems_of(exc, lines, source, "(plan)", _NOISE)) from None


def load_plan(path: str | Path) -> Plan:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PlanError([f"{path}: cannot read the plan: {exc.strerror}"]) from None
    return parse_plan(text, str(path))

"""Scenario files: load shape, persona mix, shop settings, drill plan, SLOs, variants.

`load_scenario(name_or_path, sets)` reads a built-in (`contract/catalog/NAME.yaml`) or a file,
applies `--set key=value` overrides and validates; a `ScenarioError`'s problems read
`file:line: field: message`. `scenario.variant(name)` is the scenario with a variant's overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fakalab.chaos.plan import Duration, Plan
from fakalab.chaos.yamldoc import Lines, YamlProblems, load_mapping, locate, problems_of
from fakalab.contract.disputes import ClaimRates
from fakalab.contract.monkey import Monkey, expand, fault_window
from fakalab.contract.overrides import apply_overrides, override_paths
from fakalab.contract.shapes import Shape
from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.target import Target, TargetError, links, load_target, parse_target, processes

__all__ = ["CATALOG", "BuyerBehaviour", "Load", "PersonaMix", "Scenario", "ScenarioError",
           "Slos", "Variant", "builtin_names", "dump_scenario", "load_scenario", "parse_scenario"]

CATALOG = Path(__file__).resolve().parent / "catalog"
# Shop settings a scenario may not set: the drill owns addresses, database and secrets, and
# the payment path (an external target's commands set payment_channel and epay_*).
# (`db_url` may be set: a PostgreSQL server, on which the drill makes the run's own database.)
_DRILL_OWNED = {"host", "port", "public_url", "upstreams", "payment_secrets", "admin_token",
                "payment_channel", "epay_url", "epay_pid", "epay_key", "epay_type",
                "trace_file", "provider_status_urls", "provider_signals_log",
                "risk_features_log"}
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Weight = Annotated[float, Field(ge=0.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonaMix(_Model):
    """Relative weights of the personas of arriving visitors."""

    browser: Weight = 0.0
    buyer: Weight = 1.0
    impatient: Weight = 0.0
    double_payer: Weight = 0.0
    abandoner: Weight = 0.0

    @model_validator(mode="after")
    def _some(self) -> PersonaMix:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one persona needs a weight above 0")
        return self


class BuyerBehaviour(_Model):
    think_s: Annotated[float, Field(gt=0)] = 3.0
    impatient_refresh_s: Annotated[float, Field(gt=0)] = 1.0
    sse_share: Share = 0.0
    patience_s: tuple[float, float] = (20.0, 60.0)
    max_wait_s: Annotated[float, Field(gt=0)] = 180.0
    products: dict[str, Weight] = Field(default_factory=lambda: {"steam-50": 1.0})
    # A shop that says "busy" (503 or 429 with Retry-After): the buyer comes back after the
    # hint times U(1, 1.5), at most `busy_retries` times, or gives up (`busy_give_up` of
    # buyers at each refusal, and whoever is told to wait longer than max_wait_s).
    busy_retries: Annotated[int, Field(ge=0, le=20)] = 3
    busy_give_up: Share = 0.25
    claims: ClaimRates = Field(default_factory=ClaimRates)  # non-delivery claims (disputes)

    @field_validator("patience_s")
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError("patience_s is [low, high] with 0 < low <= high")
        return value


class Load(_Model):
    shape: Shape
    personas: PersonaMix = Field(default_factory=PersonaMix)
    buyers: BuyerBehaviour = Field(default_factory=BuyerBehaviour)
    max_journeys: Annotated[int, Field(ge=1)] = 2000


class Slos(_Model):
    """Upper bounds; a missing one is not checked."""

    delay_rate: Share | None = 0.05
    p95_paid_to_delivered_s: Annotated[float, Field(gt=0)] | None = None
    error_rate: Share | None = 0.01
    ticket_rate: Annotated[float, Field(ge=0)] | None = None


class Variant(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    set: dict[str, Any] = Field(default_factory=dict)


class Scenario(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    description: str = ""
    duration: Duration
    seed: int = 42
    sla_s: Annotated[float, Field(gt=0)] = 30.0
    load: Load
    shop: dict[str, Any] = Field(default_factory=dict)
    drill: Plan | None = None
    monkey: Monkey | None = None  # expanded into drill.faults by parse_scenario
    slos: Slos = Field(default_factory=Slos)
    variants: list[Variant] = Field(default_factory=list)
    target: Target | None = None  # None: the reference shop (contract/target.py)

    @model_validator(mode="before")
    @classmethod
    def _drill_title(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and isinstance(raw.get("drill"), dict):
            return raw | {"drill": {"title": str(raw.get("name", "drill"))} | raw["drill"]}
        return raw

    @field_validator("shop")
    @classmethod
    def _shop_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            problem = shop_setting_problem(key)
            if problem:
                raise ValueError(problem)
        url = str(value.get("db_url", "postgresql://"))
        if not url.startswith(("postgresql", "postgres")):
            raise ValueError("a drill keeps a SQLite database in its run directory; db_url is "
                             "for a PostgreSQL server (postgresql://USER@HOST:PORT/DATABASE)")
        checked = ShopSettings(**value).model_dump(mode="json", include=set(value))
        return checked

    @model_validator(mode="after")
    def _checks(self) -> Scenario:
        if self.duration <= 0:
            raise ValueError("duration must be above 0")
        if self.monkey is not None:
            fault_window(self.monkey, self.duration)
        if self.drill is not None:
            _check_targets(self.drill, self.target)
            late = [f.id for f in self.drill.faults if f.start >= self.duration]
            if late:
                raise ValueError(f"faults {', '.join(late)} start after the load ends "
                                 f"({self.duration:g} s): they would never run")
        names = [v.name for v in self.variants]
        if len(names) != len(set(names)):
            raise ValueError("two variants have the same name")
        return self

    def variant(self, name: str) -> Scenario:
        """This scenario with variant `name`'s overrides applied (and no variants)."""
        found = next((v for v in self.variants if v.name == name), None)
        if found is None:
            raise ScenarioError([f"{self.name}: no variant {name!r} "
                                 f"(it has: {', '.join(v.name for v in self.variants) or 'none'})"])
        data = self.model_dump(mode="json") | {"variants": []}
        sets = [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"
                for key, value in found.set.items()]
        text = yaml.safe_dump(apply_overrides(data, sets), sort_keys=False)
        return parse_scenario(text, f"{self.name}[{name}]")


def shop_setting_problem(key: str) -> str | None:
    """Why `key` cannot be a scenario's shop setting (None when it can)."""
    if key in _DRILL_OWNED or key not in ShopSettings.model_fields:
        allowed = sorted(set(ShopSettings.model_fields) - _DRILL_OWNED)
        return f"unknown shop setting {key!r} (use: {', '.join(allowed)})"
    return None


def _shop_key_problems(data: dict[str, Any], lines: Lines, source: str,
                       overrides: dict[tuple[str | int, ...], str]) -> list[str]:
    """Unknown shop settings, each blamed on its own line (or its --set), not on `shop:`."""
    shop = data.get("shop")
    if not isinstance(shop, dict):
        return []
    return [f"{locate(('shop', key), lines, source, overrides)}: shop.{key}: {problem}"
            for key in shop if (problem := shop_setting_problem(str(key)))]


def _check_targets(plan: Plan, target: Target | None) -> None:
    """Links name the target's links (the reference shop's: `shop->UPSTREAM`; an external
    one's: `shop->DEPENDENCY`, `shop->gateway`, `buyers->shop`), kills its processes."""
    known, killable = links(target), processes(target)
    for fault in plan.faults:
        _, arrow, _ = fault.link.partition("->")
        if arrow and fault.link not in known:
            raise ValueError(f"fault {fault.id}: no link {fault.link!r} in a drill of "
                             f"{_target_name(target)} (links: {', '.join(known)})")
        if not arrow and fault.link not in killable:
            raise ValueError(f"fault {fault.id}: no process {fault.link!r} to kill in a drill "
                             f"of {_target_name(target)} (processes: "
                             f"{', '.join(killable) or 'none: it starts no command'})")


def _target_name(target: Target | None) -> str:
    return "the reference shop" if target is None or not target.external else \
        f"target {target.name}"


class ScenarioError(Exception):
    """A scenario that cannot run; `problems` are `file:line: field: message` strings."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_NOISE = frozenset({"function-before", "function-after", "http", "metric", "steady", "ramp",
                    "step", "spike", "double_wave", "day", "tuple[float, float]"})


def parse_scenario(text: str, source: str = "<scenario>", sets: list[str] | None = None,
                   target: Target | None = None, base: Path | None = None) -> Scenario:
    """Validate a scenario's YAML text after `sets` overrides; errors name line and field.
    `target` (`--target`) replaces the scenario's own `target:`; a target file it names is
    relative to `base` (the scenario file's directory)."""
    try:
        data, lines = load_mapping(text, source,
                                   "a scenario is a YAML mapping (name, duration, load)")
    except YamlProblems as exc:
        raise ScenarioError(exc.problems) from None
    try:
        data = apply_overrides(data, sets or [])
        overridden = override_paths(sets or [])
    except ValueError as exc:
        raise ScenarioError([f"--set: {exc}"]) from None
    unknown = _shop_key_problems(data, lines, source, overridden)
    if unknown:
        raise ScenarioError(unknown)
    if target is not None:
        data["target"] = target
    data = _with_target(data, lines, source, base or Path.cwd())
    try:
        scenario = Scenario.model_validate(data)
        if scenario.monkey is None:
            return scenario
        return Scenario.model_validate(
            expand(data, scenario.monkey, scenario.duration, scenario.seed))
    except ValidationError as exc:
        raise ScenarioError(
            problems_of(exc, lines, source, "(scenario)", _NOISE, overridden)) from None


def _with_target(data: dict[str, Any], lines: Lines, source: str, base: Path
                 ) -> dict[str, Any]:
    """`target:` validated (a target file's name, or the target inline) and resolved; the
    reference shop as None, so a classic scenario stays what it was."""
    raw = data.get("target")
    if raw is None or isinstance(raw, Target):
        target = raw
    else:
        try:
            if isinstance(raw, str):
                path = base / raw
                target = load_target(path if path.is_file() else raw)
            else:
                target = parse_target(raw, lines, source, base, ("target",))
        except TargetError as exc:
            raise ScenarioError(exc.problems) from None
    if target is None or not target.external:
        return {k: v for k, v in data.items() if k != "target"}
    out = {**data, "target": target.model_dump(mode="json")}
    load = out.get("load")
    if target.products is not None and isinstance(load, dict):  # the shop's own product ids
        raw_buyers = load.get("buyers")
        buyers: dict[str, Any] = raw_buyers if isinstance(raw_buyers, dict) else {}
        out["load"] = {**load, "buyers": {**buyers, "products": dict(target.products)}}
    return out


def builtin_names() -> list[str]:
    return sorted(path.stem for path in CATALOG.glob("*.yaml"))


def load_scenario(name_or_path: str | Path, sets: list[str] | None = None,
                  target: Target | None = None) -> Scenario:
    """A built-in by name, or a scenario file by path; `target` replaces its `target:`."""
    path = Path(name_or_path)
    if not path.is_file():
        if str(name_or_path) not in builtin_names():
            raise ScenarioError([f"{name_or_path}: no such scenario file or built-in "
                                 f"(built-ins: {', '.join(builtin_names())})"])
        path = CATALOG / f"{name_or_path}.yaml"
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read the scenario: {exc.strerror}"]) from None
    return parse_scenario(text, str(path), sets, target, path.resolve().parent)


def dump_scenario(scenario: Scenario) -> str:
    """The resolved scenario as YAML (the run directory's scenario.yaml)."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    data["slos"] = scenario.slos.model_dump(mode="json")  # null = not checked; keep it so
    return yaml.safe_dump(data, sort_keys=False)

"""Target files: which shop a drill measures, and how fakalab reaches it (docs/targets.md).

The reference shop is the default target (`reference`: the stack `fakalab drill` has always
started). Any other shop is an **external** target: already running at `url`, or started and
stopped by the commands of `start`, bought from through its buyer protocol `profile`, paying
through fakalab's 易支付 gateway, its dependencies behind Toxiproxy proxies::

    name: my-shop
    url: http://127.0.0.1:{port:shop}
    profile: my-shop-profile.yaml           # or a built-in name, or the profile inline
    start:
      - name: shop
        run: ./run-shop --port {port:shop} --epay {gateway_url} --db-host {proxy:database}
        ready: {url: "http://127.0.0.1:{port:shop}/", timeout: 30s}
    dependencies: {database: 127.0.0.1:3306}
    gateway: {pid: "1000", key: my-key, listen: 127.0.0.1:9107}

Templates (`{name}`; `{{`/`}}` for braces): `{port:NAME}` a free loopback port fakalab picks
for NAME (the same port wherever NAME is used), `{proxy:NAME}` the `host:port` of the proxy in
front of dependency NAME (`{proxy:gateway}` the gateway's), `{gateway_url}`, `{gateway_pid}`,
`{gateway_key}`, `{shop_url}`, `{run_dir}`, `{python}` (fakalab's interpreter), `{seed}` (the
scenario's). Commands also get them as environment variables (`FAKALAB_GATEWAY_URL`,
`FAKALAB_PROXY_DATABASE`, `FAKALAB_PORT_SHOP`, …, see `template_env`), and the scenario's
`shop:` settings as `FAKALAB_SHOP_<KEY>` (what the reference shop reads; other shops ignore
them). Errors read `file:line: field: message`, like scenario files.

Pure: the model, the templates and the links a target has; `fakalab.scenarios.target_stack`
runs it.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fakalab.chaos.plan import Duration
from fakalab.chaos.yamldoc import Lines, YamlProblems, load_mapping, problems_of
from fakalab.contract.profile import BUILTIN as PROFILES
from fakalab.contract.profile import Profile, ProfileError, load_profile, parse_profile
from fakalab.contract.services import SERVICES

__all__ = ["BUILTIN_TARGETS", "PLUGIN_GROUP", "PROBE_KINDS", "REFERENCE", "Command", "Dependency",
           "Gateway", "Probes", "Ready", "Target", "TargetError", "fill", "links", "load_target",
           "parse_target", "plugin_problem", "processes", "template_env", "template_names"]

BUILTIN_TARGETS = Path(__file__).resolve().parent / "targets"
_NAME = r"[a-z0-9][a-z0-9_-]*"
_TEMPLATE = re.compile(r"(?<!\{)\{([a-z_]+)(?::([A-Za-z0-9_-]+))?\}(?!\})")
# Template names, and where each may be used.
_EVERYWHERE = frozenset({"port"})
_IN_COMMANDS = frozenset({"port", "proxy", "gateway_url", "gateway_pid", "gateway_key",
                          "shop_url", "run_dir", "python", "seed"})
RESERVED = frozenset({"shop", "buyers", "gateway"})  # link ends fakalab names itself
ProbeKind = Literal["forged_sign", "wrong_amount", "other_pid", "replay"]
PROBE_KINDS: tuple[ProbeKind, ...] = ("forged_sign", "wrong_amount", "other_pid", "replay")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def template_names(text: str) -> list[tuple[str, str | None]]:
    """The (name, argument) of each `{name}` / `{name:arg}` in `text`."""
    return [(m.group(1), m.group(2)) for m in _TEMPLATE.finditer(text)]


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with each template replaced by `values["name"]` or `values["name:arg"]`."""
    def one(match: re.Match[str]) -> str:
        key = match.group(1) + (f":{match.group(2)}" if match.group(2) else "")
        if key not in values:
            raise KeyError(f"no value for {{{key}}}")
        return values[key]

    return _TEMPLATE.sub(one, text).replace("{{", "{").replace("}}", "}")


def template_env(values: dict[str, str]) -> dict[str, str]:
    """The template values as environment variables: `gateway_url` → FAKALAB_GATEWAY_URL,
    `proxy:database` → FAKALAB_PROXY_DATABASE, `port:shop` → FAKALAB_PORT_SHOP; `shop_url` →
    FAKALAB_TARGET_URL (FAKALAB_SHOP_* are the scenario's shop settings)."""
    renamed = {"shop_url": "target_url"}
    return {"FAKALAB_" + renamed.get(key, key).replace(":", "_").replace("-", "_").upper(): value
            for key, value in values.items() if key != "python"}


def _check_templates(text: str, allowed: frozenset[str]) -> str:
    for name, arg in template_names(text):
        if name not in allowed:
            known = ", ".join(sorted(f"{{{n}:NAME}}" if n in ("port", "proxy") else f"{{{n}}}"
                                     for n in allowed))
            raise ValueError(f"{{{name}{':' + arg if arg else ''}}} is not a template here "
                             f"(here: {known})")
        if name in ("port", "proxy") and not arg:
            raise ValueError(f"{{{name}}} needs a name: {{{name}:NAME}}")
    return text


def _host_port(text: str) -> str:
    if template_names(text):
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return text


class Ready(_Model):
    """When the shop (or a command) is up: a GET of `url` answers (any status below 500), or
    `tcp` (host:port) accepts a connection."""

    url: str | None = None
    tcp: str | None = None
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _one(self) -> Ready:
        if (self.url is None) == (self.tcp is None):
            raise ValueError("a readiness check is a url or a tcp address, one of them")
        for text in (self.url, self.tcp):
            if text is not None:
                _check_templates(text, _IN_COMMANDS)
        if self.tcp is not None:
            _host_port(self.tcp)
        if self.timeout <= 0:
            raise ValueError("timeout must be above 0")
        return self


class Command(_Model):
    """A process of the target, started in order (each in a process group of its own, its
    output in RUN_DIR/logs/NAME.log) and stopped in reverse: SIGTERM to its group, SIGKILL after
    `stop_timeout` (or the `stop` command, for what runs elsewhere: `docker compose down`). A
    drill plan may kill it by `name`. `once`: a setup step that runs to its end."""

    name: Annotated[str, Field(pattern=f"^{_NAME}$")]
    run: str | list[str]  # a string is split like a shell would (no shell runs it)
    cwd: str | None = None  # default: the target file's directory
    env: dict[str, str] = Field(default_factory=dict)
    ready: Ready | None = None
    stop_timeout: Duration = 10.0
    once: bool = False  # a setup step: run to its end (exit 0) before the next command
    stop: str | list[str] | None = None  # run at the end instead of signalling (e.g. compose)

    @field_validator("run", "stop")
    @classmethod
    def _runs_something(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is None:
            return None
        parts = [value] if isinstance(value, str) else value
        if not parts or not all(p.strip() for p in parts):
            raise ValueError("run names a program (and its arguments)")
        for part in parts:
            _check_templates(part, _IN_COMMANDS)
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            _check_templates(str(text), _IN_COMMANDS)
        return {k: str(v) for k, v in value.items()}


    def argv_templates(self) -> list[str]:
        """Every text of `run` and `stop` (templates not filled in)."""
        return [text for part in (self.run, self.stop) if part is not None
                for text in ([part] if isinstance(part, str) else part)]


class Dependency(_Model):
    """Something the shop talks to (its database, cache, queue, an API): fakalab puts a proxy
    (link `shop->NAME`) in front of `address`, listening on `listen` (default: a free port)."""

    address: str  # host:port where it really is
    listen: str | None = None  # host:port the shop is configured with
    admin: str | None = None  # a fakalab-style admin URL: business faults (docs/upstreams.md)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        return {"address": raw} if isinstance(raw, str) else raw

    @field_validator("address", "listen")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        return None if value is None else _host_port(_check_templates(value, _EVERYWHERE))

    @field_validator("admin")
    @classmethod
    def _admin(cls, value: str | None) -> str | None:
        return None if value is None else _check_templates(value, _EVERYWHERE)


class Gateway(_Model):
    """fakalab's payment gateway for the shop (the 易支付 protocol, docs/upstreams.md): the
    merchant `pid` and `key` the shop is configured with, and the address it calls
    (`listen`, the proxy of link `shop->gateway`; default a free port)."""

    kind: Literal["epay"] = "epay"
    pid: Annotated[str, Field(min_length=1)] = "1000"
    key: Annotated[str, Field(min_length=1)] = "fakalab-epay-key"
    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return None if value is None else _host_port(_check_templates(value, _EVERYWHERE))


class Probes(_Model):
    """Test notifications sent after the load (forged signature, wrong amount, another
    merchant's pid, a replay of an accepted one), each about an order of its own: at most four
    orders, `wait_s` of watching after each notification, `deliver_timeout` for the order the
    replay needs delivered first."""

    enabled: bool = True
    kinds: list[ProbeKind] = Field(default_factory=lambda: list(PROBE_KINDS))
    wait_s: Annotated[float, Field(gt=0, le=60)] = 4.0
    deliver_timeout: Annotated[float, Field(gt=0, le=120)] = 20.0


class Target(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    description: str = ""
    kind: Literal["reference", "external"] = "external"
    url: str | None = None  # where buyers reach the shop (fakalab's proxy goes in front)
    profile: str | dict[str, Any] = "reference"  # a built-in, a file, or the profile inline
    plugin: str | None = None  # an entry point of group fakalab.targets (docs/targets.md)
    start: list[Command] = Field(default_factory=list)
    ready: Ready | None = None  # default: a GET of `url` answers
    dependencies: dict[str, Dependency] = Field(default_factory=dict)
    gateway: Gateway = Field(default_factory=Gateway)
    probes: Probes = Field(default_factory=Probes)
    products: dict[str, Annotated[float, Field(ge=0)]] | None = None  # the shop's product ids

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return _check_templates(value, _EVERYWHERE)

    @field_validator("dependencies")
    @classmethod
    def _dependency_names(cls, value: dict[str, Dependency]) -> dict[str, Dependency]:
        for name in value:
            if not re.fullmatch(_NAME, name) or name in RESERVED:
                raise ValueError(f"{name!r} cannot name a dependency (lower-case letters, "
                                 f"digits, - and _; not {', '.join(sorted(RESERVED))})")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Target:
        if self.kind == "reference":
            if self.url or self.start or self.dependencies:
                raise ValueError("the reference target is started by fakalab itself: it has "
                                 "no url, start or dependencies")
            return self
        if self.url is None:
            raise ValueError("an external target needs the url its buyers use")
        names = [c.name for c in self.start]
        if len(names) != len(set(names)):
            raise ValueError("two start commands have the same name")
        for command in self.start:
            for text in [*command.argv_templates(), *command.env.values()]:
                for name, arg in template_names(text):
                    if name == "proxy" and arg not in {*self.dependencies, "gateway"}:
                        raise ValueError(f"start {command.name}: {{proxy:{arg}}} names no "
                                         f"dependency (dependencies: "
                                         f"{', '.join([*self.dependencies, 'gateway'])})")
        if self.products is not None and not any(self.products.values()):
            raise ValueError("products: at least one product needs a weight above 0")
        return self

    @property
    def external(self) -> bool:
        return self.kind == "external"

    def buyer_profile(self) -> Profile:
        """The profile, loaded (a file path here is absolute: `parse_target` resolved it)."""
        if isinstance(self.profile, dict):
            return parse_profile(self.profile, {}, f"target {self.name}: profile")
        return load_profile(self.profile)


REFERENCE = Target(name="reference", kind="reference",
                   description="fakalab's reference shop, started by the drill itself")


def links(target: Target | None) -> list[str]:
    """The links a drill plan may put faults on."""
    if target is None or not target.external:
        return [f"shop->{name}" for name in SERVICES]
    return [*(f"shop->{name}" for name in target.dependencies), "shop->gateway",
            "buyers->shop"]


def processes(target: Target | None) -> list[str]:
    """What a drill plan may kill."""
    if target is None or not target.external:
        return ["shop", *SERVICES]
    return [c.name for c in target.start if not c.once]


class TargetError(Exception):
    """A target that cannot be used; `problems` read `file:line: field: message`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _resolved(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths made absolute against `base`: the profile file, the commands' cwd."""
    out = dict(data)
    profile = out.get("profile")
    if isinstance(profile, str) and not Path(profile).is_absolute() and \
            (base / profile).is_file():
        out["profile"] = str((base / profile).resolve())
    commands = out.get("start")
    if isinstance(commands, list):
        out["start"] = [
            {**c, "cwd": str((base / str(c.get("cwd") or ".")).resolve())}
            if isinstance(c, dict) else c for c in commands]
    return out


def parse_target(data: Any, lines: Lines, source: str, base: Path,
                 root: tuple[Any, ...] = ()) -> Target:
    """Validate a target given as data whose lines are under `root`; paths relative to `base`."""
    shifted = {key[len(root):]: line for key, line in lines.items() if key[:len(root)] == root}
    if not isinstance(data, dict):
        raise TargetError([f"{source}:{lines.get(root, 1)}: target: a target is a mapping "
                           f"(name, url, profile, …) or the name of a target file"])
    try:
        target = Target.model_validate(_resolved(data, base))
    except ValidationError as exc:
        raise TargetError(problems_of(exc, shifted, source, "(target)")) from None
    def at(field: str) -> str:
        return f"{source}:{shifted.get((field,), shifted.get((), 1))}: {field}"

    if isinstance(target.profile, str) and not Path(target.profile).is_file() and \
            not (PROFILES / f"{target.profile}.yaml").is_file():
        raise TargetError([f"{at('profile')}: no profile file {target.profile!r} (relative to "
                           f"{base}) and no built-in of that name"])
    try:
        if isinstance(target.profile, dict):
            parse_profile(target.profile, shifted, source, ("profile",))
        else:
            target.buyer_profile()
    except ProfileError as exc:
        raise TargetError(exc.problems) from None
    if target.plugin is not None:
        problem = plugin_problem(target.plugin)
        if problem:
            raise TargetError([f"{at('plugin')}: {problem}"])
    return target


PLUGIN_GROUP = "fakalab.targets"


def plugin_problem(name: str) -> str | None:
    """Why no plugin `name` is installed (None when one is): an entry point of PLUGIN_GROUP."""
    found = sorted(ep.name for ep in entry_points(group=PLUGIN_GROUP))
    if name in found:
        return None
    return (f"no entry point {name!r} in group {PLUGIN_GROUP} (installed: "
            f"{', '.join(found) or 'none'})")


def load_target(name_or_path: str | Path) -> Target:
    """`reference`, a built-in target by name (`reference-epay`), or a target file."""
    if str(name_or_path) == "reference":
        return REFERENCE
    path = Path(name_or_path)
    if not path.is_file():
        builtin = BUILTIN_TARGETS / f"{name_or_path}.yaml"
        if not builtin.is_file():
            names = ", ".join(["reference", *sorted(p.stem for p in BUILTIN_TARGETS.glob(
                "*.yaml"))])
            raise TargetError([f"{name_or_path}: no such target file or built-in "
                               f"(built-ins: {names})"])
        path = builtin
    try:
        data, lines = load_mapping(path.read_text(), str(path),
                                   "a target is a YAML mapping (name, url, profile, …)")
    except YamlProblems as exc:
        raise TargetError(exc.problems) from None
    except OSError as exc:
        raise TargetError([f"{path}: cannot read the target: {exc.strerror}"]) from None
    return parse_target(data, lines, str(path), path.resolve().parent)

"""A buyer protocol profile: how a simulated buyer talks to a shop whose API is plain HTTP
(docs/targets.md). Pure models; `fakalab.scenarios.targets` runs them.

Each step is a request template and what to read from the answer:

    create_order:
      request: {method: POST, path: /api/orders,
                json: {product_id: "{product}", quantity: "{quantity}", email: "{email}"}}
      extract: {order_id: order_no, token: token, pay_url: pay_url}

A template's `{name}` is a value the buyer knows: `product`, `quantity`, `email`, `persona`,
`query_password`, and everything extracted so far (`order_id`, `token`, `pay_url`, …); a string
that is exactly one `{name}` keeps the value's type (a number stays a number in JSON). An
extraction is a JMESPath expression on a JSON answer, `{regex: …, group: 1}` on the text (HTML),
or `{header: Location}`. The shop's own states are mapped onto fakalab's stage names by
`states`; a state not mapped is kept verbatim, never dropped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import jmespath
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fakalab.chaos.yamldoc import YamlProblems, load_mapping, problems_of
from fakalab.contract.stages import OrderState

__all__ = ["BUILTIN", "STEPS", "Extract", "Profile", "ProfileError", "Request", "Step",
           "load_profile", "parse_profile", "template_names"]

BUILTIN = Path(__file__).resolve().parent / "profiles"
STEPS = ("list_products", "create_order", "pay_url", "i_have_paid", "status", "events", "keys",
         "support_ticket", "receipt_key", "receipt")
_NAME = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})")
BUYER_KNOWS = frozenset({"product", "quantity", "email", "persona", "query_password"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def template_names(value: Any) -> set[str]:
    """The `{name}`s a template (a string, or a list or mapping of them) refers to."""
    if isinstance(value, str):
        return set(_NAME.findall(value))
    if isinstance(value, dict):
        return set().union(*(template_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(template_names(v) for v in value)) if value else set()
    return set()


class Request(_Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: Annotated[str, Field(min_length=1)]  # relative to the shop's URL, or absolute
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, str] | None = None
    ok: list[int] = Field(default_factory=lambda: [200, 201, 202])  # statuses that succeed

    @model_validator(mode="after")
    def _one_body(self) -> Request:
        if self.json_body is not None and self.form is not None:
            raise ValueError("a request has a json body or a form, not both")
        return self


class Extract(_Model):
    json_path: str | None = Field(default=None, alias="json")
    regex: str | None = None
    group: Annotated[int, Field(ge=0)] = 1
    header: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Extract:
        given = [x for x in (self.json_path, self.regex, self.header) if x is not None]
        if len(given) != 1:
            raise ValueError("an extraction is one of json, regex or header")
        if self.json_path is not None:
            try:
                jmespath.compile(self.json_path)
            except jmespath.exceptions.ParseError as exc:
                raise ValueError(f"not a JMESPath expression: {exc}") from None
        if self.regex is not None:
            try:
                compiled = re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
            if self.group > compiled.groups:
                raise ValueError(f"the regex has {compiled.groups} group(s), not {self.group}")
        return self


def _extraction(value: Any) -> Any:
    """A bare string is a JMESPath expression on the JSON answer."""
    return {"json": value} if isinstance(value, str) else value


class Step(_Model):
    request: Request
    extract: dict[str, Extract] = Field(default_factory=dict)

    @field_validator("extract", mode="before")
    @classmethod
    def _bare_paths(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _extraction(v) for k, v in value.items()}
        return value


class Profile(_Model):
    """How buyers shop at one kind of shop."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    description: str = ""
    list_products: Step | None = None
    create_order: Step
    pay_url: Step | None = None  # when create_order does not give the payment URL
    i_have_paid: Step | None = None  # the shop's "I have paid" button, if it has one
    status: Step
    events: Step | None = None  # a Server-Sent Events stream; `extract` reads each event's data
    keys: Step | None = None  # when the status does not carry the keys
    support_ticket: Step | None = None  # the shop's ticket desk: {reason}, {waited_s}, {message}
    receipt_key: Step | None = None  # the shop's published receipt key (docs/receipts.md)
    receipt: Step | None = None  # an order's verifiable receipt, settling a buyer's claim
    states: dict[str, str] = Field(default_factory=dict)  # the shop's state -> fakalab stage

    @field_validator("states")
    @classmethod
    def _stages(cls, value: dict[str, str]) -> dict[str, str]:
        stages = {s.value for s in OrderState}
        unknown = sorted({v for v in value.values() if v not in stages})
        if unknown:
            raise ValueError(f"not fakalab stages: {', '.join(unknown)} "
                             f"(stages: {', '.join(sorted(stages))})")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Profile:
        if "order_id" not in self.create_order.extract:
            raise ValueError("create_order must extract order_id")
        if "state" not in self.status.extract:
            raise ValueError("status must extract state")
        known = set(BUYER_KNOWS)
        for name in STEPS:
            if name == "support_ticket":
                known |= {"reason", "waited_s", "message"}
            step: Step | None = getattr(self, name)
            if step is None:
                continue
            used = template_names(step.request.model_dump(by_alias=True))
            missing = sorted(used - known)
            if missing:
                raise ValueError(f"{name}: {', '.join('{' + m + '}' for m in missing)} is not "
                                 f"known at that step (known: {', '.join(sorted(known))})")
            known |= set(step.extract)
        if self.pay_url is None and "pay_url" not in self.create_order.extract:
            raise ValueError("the payment URL comes from nowhere: extract pay_url in "
                             "create_order, or give a pay_url step")
        return self

    def stage(self, state: Any) -> str:
        """The fakalab stage of the shop's `state` (verbatim when not mapped)."""
        text = "" if state is None else str(state)
        return self.states.get(text, text)


class ProfileError(Exception):
    """A profile that cannot be used; `problems` read `file:line: field: message`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_profile(data: Any, lines: dict[tuple[Any, ...], int], source: str,
                  root: tuple[str, ...] = ()) -> Profile:
    """Validate a profile given as data whose lines (from `load_mapping`) are under `root`."""
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        shifted = {key[len(root):]: line for key, line in lines.items()
                   if key[:len(root)] == root}
        raise ProfileError(problems_of(exc, shifted, source, "(profile)")) from None


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name (`reference`), or a profile file."""
    path = Path(name_or_path)
    if not path.is_file():
        builtin = BUILTIN / f"{name_or_path}.yaml"
        if not builtin.is_file():
            names = ", ".join(sorted(p.stem for p in BUILTIN.glob("*.yaml")))
            raise ProfileError([f"{name_or_path}: no such profile file or built-in "
                                f"(built-ins: {names})"])
        path = builtin
    try:
        data, lines = load_mapping(path.read_text(), str(path), "a profile is a YAML mapping")
    except YamlProblems as exc:
        raise ProfileError(exc.problems) from None
    except OSError as exc:
        raise ProfileError([f"{path}: cannot read the profile: {exc.strerror}"]) from None
    return parse_profile(data, lines, str(path))

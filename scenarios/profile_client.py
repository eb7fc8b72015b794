"""Running a buyer protocol profile (`fakalab.contract.profile`) against a shop.

Pure apart from one small interface, `Http`, that sends a request: the Locust buyers adapt
their FastHttpSession to it, `fakalab target check` and the tests an httpx client (httpx's
MockTransport in unit tests). Each step returns a `StepResult`: the request as sent, the answer,
and what was extracted — what `fakalab target check` prints.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx
import jmespath

from fakalab.contract.profile import Extract, Profile, Step
from fakalab.scenarios.trace_sampler import TraceSampler

__all__ = ["TRACEPARENT", "Answer", "Http", "HttpxHttp", "ProfileClient", "SentRequest",
           "StepResult", "TargetPlugin", "digest", "journey_trace", "key_list", "render"]

_WHOLE = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
_NAME = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})")


TRACEPARENT = "_traceparent"  # a journey context's W3C trace, sent as `traceparent`


def journey_trace(rng: random.Random, sampler: TraceSampler | None,
                  now: float | None = None) -> str | None:
    """A W3C traceparent naming a new trace for one journey (None when not tracing); its
    sampled flag is set as `sampler` decides for a journey starting `now` (monotonic), and the
    shop follows it."""
    if sampler is None:
        return None
    flags = "01" if sampler.sample(time.monotonic() if now is None else now, rng) else "00"
    return f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-{flags}"



@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    json_body: Any = None
    form: dict[str, str] | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class Http(Protocol):
    """Sends one request (redirects not followed) and returns the answer; a connection error
    or timeout is an `Answer` with status 0 and the error as text."""

    def send(self, request: SentRequest, name: str) -> Answer: ...


class HttpxHttp:
    """`Http` over an httpx client (`fakalab target check`, tests with MockTransport)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, request: SentRequest, name: str) -> Answer:
        started = time.perf_counter()
        try:
            response = self.client.request(
                request.method, request.url, headers=request.headers,
                params=request.params or None, json=request.json_body, data=request.form,
                follow_redirects=False)
        except httpx.HTTPError as exc:
            return Answer(0, f"{type(exc).__name__}: {exc}", {}, time.perf_counter() - started)
        return Answer(response.status_code, response.text, dict(response.headers),
                      time.perf_counter() - started)


@dataclass(frozen=True)
class StepResult:
    step: str
    request: SentRequest
    answer: Answer
    extracted: dict[str, Any]
    ok: bool
    problem: str = ""  # why the step failed (status, an extraction that found nothing)


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """A template with `{name}`s filled from `context`; `"{name}"` alone keeps the type."""
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return context.get(whole.group(1))
        text = _NAME.sub(lambda m: "" if context.get(m.group(1)) is None
                         else str(context[m.group(1)]), value)
        return text.replace("{{", "{").replace("}}", "}")
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


_compiled: dict[str, Any] = {}


def _json_path(expression: str) -> Any:
    found = _compiled.get(expression)
    if found is None:
        found = _compiled[expression] = jmespath.compile(expression)
    return found


def extract(how: Extract, answer: Answer, data: Any) -> Any:
    """One value from an answer (None when not there)."""
    if how.json_path is not None:
        return None if data is None else _json_path(how.json_path).search(data)
    if how.header is not None:
        lowered = {k.lower(): v for k, v in answer.headers.items()}
        return lowered.get(how.header.lower())
    assert how.regex is not None
    match = re.search(how.regex, answer.text)
    return None if match is None else match.group(how.group)


def _data(answer: Answer) -> Any:
    try:
        return json.loads(answer.text)
    except ValueError:
        return None


class TargetPlugin(Protocol):
    """What a profile cannot say, in Python (docs/targets.md): registered as an entry point of
    group `fakalab.targets` and named by a target file's `plugin:`. `run_step` may run a step
    itself (a CSRF token to fetch first, a signed request, a login) and return its result, or
    return None to let the profile run it. Optional: a `steps` attribute naming steps the
    profile does not have, and a `keys(value) -> list[str]` method turning what `extract:
    keys` found into the keys shown (default: `key_list`)."""

    def run_step(self, name: str, client: ProfileClient, context: dict[str, Any]
                 ) -> StepResult | None: ...


def key_list(value: Any) -> list[str]:
    """The keys a buyer was shown: a list of texts (or of objects, each shown as its JSON), or a
    text with one key per line; empty entries dropped."""
    if value is None:
        return []
    if isinstance(value, list):
        items = [v if isinstance(v, str) else json.dumps(v, sort_keys=True, ensure_ascii=False)
                 for v in value]
    else:
        items = str(value).splitlines()
    return [item.strip() for item in items if item and item.strip()]


def digest(key: str) -> str:
    """A key's SHA-256 (hex): what the run directory keeps instead of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


class ProfileClient:
    """One shop, one profile: build each step's request, send it, read the answer."""

    def __init__(self, profile: Profile, http: Http, base_url: str,
                 plugin: TargetPlugin | None = None) -> None:
        self.profile = profile
        self.http = http
        self.base_url = base_url.rstrip("/") + "/"
        self.plugin = plugin

    def has(self, name: str) -> bool:
        """Whether the profile (or the plugin) can run step `name`."""
        return getattr(self.profile, name) is not None or \
            name in getattr(self.plugin, "steps", ())

    def keys(self, value: Any) -> list[str]:
        hook = getattr(self.plugin, "keys", None)
        return list(hook(value)) if hook is not None else key_list(value)

    def request(self, step: Step, context: Mapping[str, Any]) -> SentRequest:
        spec = step.request
        path = str(render(spec.path, context))
        headers = {k: str(v) for k, v in render(spec.headers, context).items()}
        if TRACEPARENT in context:  # the journey's trace (docs/tracing.md)
            headers["traceparent"] = str(context[TRACEPARENT])
        return SentRequest(
            method=spec.method, url=urljoin(self.base_url, path.lstrip("/"))
            if not path.startswith(("http://", "https://")) else path,
            headers=headers,
            params={k: str(v) for k, v in render(spec.query, context).items()},
            json_body=render(spec.json_body, context),
            form=None if spec.form is None else {
                k: str(v) for k, v in render(spec.form, context).items()})

    def run(self, name: str, context: dict[str, Any]) -> StepResult:
        """Run step `name`; what it extracted is added to `context`."""
        if self.plugin is not None:
            done = self.plugin.run_step(name, self, context)
            if done is not None:
                context.update({k: v for k, v in done.extracted.items() if v is not None})
                return done
        step: Step | None = getattr(self.profile, name)
        if step is None:
            raise ValueError(f"the profile {self.profile.name!r} has no step {name!r}")
        sent = self.request(step, context)
        answer = self.http.send(sent, f"{name} {step.request.path}")
        if answer.status not in step.request.ok:
            shown = f"HTTP {answer.status}" if answer.status else answer.text[:200]
            return StepResult(name, sent, answer, {}, False, shown)
        data = _data(answer) if any(e.json_path for e in step.extract.values()) else None
        found = {key: extract(how, answer, data) for key, how in step.extract.items()}
        context.update({k: v for k, v in found.items() if v is not None})
        missing = [k for k, v in found.items() if v is None and k in _REQUIRED.get(name, ())]
        problem = f"nothing found for {', '.join(missing)}" if missing else ""
        return StepResult(name, sent, answer, found, not missing, problem)


_REQUIRED = {"create_order": ("order_id",), "status": ("state",), "pay_url": ("pay_url",)}

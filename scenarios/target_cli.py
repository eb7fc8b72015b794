"""`fakalab target check FILE`: start a target as a drill would, make one purchase through its
profile, and print every step — the request, the answer, what was extracted — then stop it all.

The tool to write a profile with (docs/targets.md): a step that fails says why (its status,
or which extraction found nothing), and the payment shows each hop from the shop's payment URL
to the gateway's cashier.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import httpx

from fakalab.contract.stages import FINAL_LABELS, OrderState
from fakalab.contract.target import Target, TargetError, load_target
from fakalab.scenarios.paypage import to_cashier
from fakalab.scenarios.profile_client import (
    Answer,
    HttpxHttp,
    ProfileClient,
    SentRequest,
    StepResult,
    digest,
)
from fakalab.scenarios.stack import Stack, StackError
from fakalab.scenarios.target_plugin import PluginError, load_plugin
from fakalab.scenarios.target_stack import TargetStack

__all__ = ["check_purchase", "target"]

SHOWN = 300  # characters of an answer's body printed


def _body(request: SentRequest) -> str:
    if request.json_body is not None:
        return "  json=" + json.dumps(request.json_body, ensure_ascii=False)
    if request.form:
        return "  form=" + json.dumps(request.form, ensure_ascii=False)
    return ""


def show_exchange(echo: Callable[[str], None], request: SentRequest, answer: Answer) -> None:
    query = "?" + "&".join(f"{k}={v}" for k, v in request.params.items()) \
        if request.params else ""
    echo(f"  → {request.method} {request.url}{query}{_body(request)}")
    headers = {k: v for k, v in request.headers.items() if v}
    if headers:
        echo(f"    headers {json.dumps(headers, ensure_ascii=False)}")
    text = " ".join((answer.text or "").split())
    more = "…" if len(text) > SHOWN else ""
    status = f"HTTP {answer.status}" if answer.status else "no answer"
    echo(f"  ← {status} ({answer.seconds * 1000:.0f} ms) {text[:SHOWN]}{more}")
    location = {k.lower(): v for k, v in answer.headers.items()}.get("location")
    if location:
        echo(f"    Location: {location}")


def show_step(echo: Callable[[str], None], result: StepResult, client: ProfileClient) -> None:
    echo(f"[{result.step}]")
    show_exchange(echo, result.request, result.answer)
    for key, value in result.extracted.items():
        shown = "(nothing found)" if value is None else json.dumps(value, ensure_ascii=False)
        stage = ""
        if key == "state" and value is not None:
            mapped = client.profile.stage(value)
            stage = f"  → stage {mapped}" + ("" if mapped != str(value) or
                                             mapped in {s.value for s in OrderState}
                                             else " (not mapped: kept verbatim)")
        echo(f"    {key} = {shown[:200]}{stage}")
    if not result.ok:
        echo(f"  ✗ {result.problem}")


def check_purchase(client: ProfileClient, http: httpx.Client, cashier: str | None,
                   product: str, wait_s: float, echo: Callable[[str], None]) -> str | None:
    """One purchase, printed step by step; None when the keys came, else what went wrong."""
    if client.has("list_products"):
        show_step(echo, client.run("list_products", {}), client)
    order: dict[str, Any] = {"product": product, "quantity": 1, "persona": "check",
                             "email": "check@example.com"}
    created = client.run("create_order", order)
    show_step(echo, created, client)
    if not created.ok:
        return f"create_order: {created.problem}"
    if "pay_url" not in order and client.has("pay_url"):
        step = client.run("pay_url", order)
        show_step(echo, step, client)
    if "pay_url" not in order:
        return "no payment URL: extract pay_url in create_order, or give a pay_url step"
    echo("[pay]")
    where = str(order["pay_url"])
    if cashier is not None:
        journey = to_cashier(HttpxHttp(http), where, lambda u: u.startswith(cashier))
        for sent, answer, hop in journey.steps:
            show_exchange(echo, sent, answer)
            if hop is not None:
                echo(f"    next: {hop.method} {hop.url} ({hop.how})")
        if journey.cashier is None:
            return f"pay: {journey.problem}"
        where = journey.cashier
    started = time.monotonic()
    paid = http.post(where)
    show_exchange(echo, SentRequest("POST", where, {}, {}),
                  Answer(paid.status_code, paid.text, dict(paid.headers)))
    if paid.status_code != 200:
        return f"pay: the cashier answered HTTP {paid.status_code}"
    if client.has("i_have_paid"):
        show_step(echo, client.run("i_have_paid", order), client)
    return _watch(client, order, started, wait_s, echo)


def _watch(client: ProfileClient, order: dict[str, Any], started: float, wait_s: float,
           echo: Callable[[str], None]) -> str | None:
    last: tuple[Any, ...] | None = None
    stage = ""
    while time.monotonic() - started < wait_s:
        result = client.run("status", dict(order))
        view = (result.extracted.get("state"), result.extracted.get("message"))
        if view != last or not result.ok:
            show_step(echo, result, client)
            last = view
        stage = client.profile.stage(result.extracted.get("state"))
        keys = client.keys(result.extracted.get("keys"))
        if not keys and stage == OrderState.DELIVERED.value and client.has("keys"):
            fetched = client.run("keys", dict(order))
            show_step(echo, fetched, client)
            keys = client.keys(fetched.extracted.get("keys"))
        if keys:
            took = time.monotonic() - started
            echo(f"delivered {took:.1f} s after paying: {len(keys)} key(s), SHA-256 "
                 f"{', '.join(digest(k)[:12] + '…' for k in keys)}")
            return None
        if stage in FINAL_LABELS and stage != OrderState.DELIVERED.value:
            return f"the order ended {stage} without a key"
        if stage == OrderState.DELIVERED.value:
            return "the shop says delivered, and no key could be fetched (extract keys in " \
                   "status, or give a keys step)"
        time.sleep(0.5)
    return f"no key within {wait_s:g} s (last stage seen: {stage or 'none'})"


@click.group()
def target() -> None:
    """Target files: the shops a drill can measure (docs/targets.md)."""


@target.command("check")
@click.argument("file")
@click.option("--product", default=None, help="Product to buy (default: the target's first "
              "product, else steam-50).")
@click.option("--wait", "wait_s", type=float, default=30.0, show_default=True,
              help="Seconds to wait for the keys after paying.")
@click.option("--toxiproxy", "toxiproxy_url", default=None, envvar="TOXIPROXY_URL",
              help="A running Toxiproxy server (default: start the embedded one).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the logs here (default: a temporary directory, removed).")
def check(file: str, product: str | None, wait_s: float, toxiproxy_url: str | None,
          out: Path | None) -> None:
    """Start FILE's target (a file, a built-in such as reference-epay, or reference), make one
    purchase and print each step. Exit 0: the keys came; 1: they did not; 2: the target could
    not be used."""
    try:
        found = load_target(file)
        plugin = load_plugin(found.plugin)
    except TargetError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    with tempfile.TemporaryDirectory(prefix="fakalab-check-") as temporary:
        run_dir = out or Path(temporary)
        run_dir.mkdir(parents=True, exist_ok=True)
        sys.exit(_check(found, plugin, run_dir, product, wait_s, toxiproxy_url))


def _check(found: Target, plugin: Any, run_dir: Path, product: str | None, wait_s: float,
           toxiproxy_url: str | None) -> int:
    echo = click.echo
    stack: Stack | TargetStack
    if found.external:
        stack = TargetStack(run_dir, found, {}, toxiproxy_url, 0,
                            lambda link, address: echo(f"  {link}: {address}"))
    else:
        stack = Stack(run_dir, {}, toxiproxy_url)
    echo(f"starting {found.name} (logs in {run_dir / 'logs'})")
    try:
        stack.start()
        cashier = stack.cashier if isinstance(stack, TargetStack) else None
        chosen = product or next(iter(found.products or {}), "steam-50")
        with httpx.Client(timeout=10.0, trust_env=False) as http:
            client = ProfileClient(found.buyer_profile(), HttpxHttp(http), stack.shop_url,
                                   plugin)
            problem = check_purchase(client, http, cashier, chosen, wait_s, echo)
    except StackError as exc:
        echo(f"error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        return 130
    finally:
        stack.stop_shop()
        stack.stop()
    if problem is not None:
        echo(f"✗ {problem}", err=True)
        return 1
    echo("✓ one purchase went through: the profile works")
    return 0

"""The drill's test notifications to an external target (run after the load, bounded).

Each probe is an order of its own, placed through the shop's profile like any buyer's: the
drill follows its payment URL to the gateway's cashier (so the gateway knows the trade and the
shop's notify URL), then has the gateway send one notification of the probe's kind
(`POST /admin/probe`: a forged signature, a wrong amount, another merchant's pid — each for an
order nobody paid — or, for an order paid and delivered first, a replay of the notification the
shop accepted), and watches the order for `wait_s`. The gateway journals each probe with the
shop's reply; `probes.csv` says what the buyer saw afterwards. Budget: one order per kind, at
most `deliver_timeout + wait_s` of watching each, all kinds at once.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fakalab.contract.rundir import PROBE_COLUMNS, cell
from fakalab.contract.stages import OrderState
from fakalab.contract.target import Probes
from fakalab.scenarios.paypage import to_cashier
from fakalab.scenarios.profile_client import HttpxHttp, ProfileClient, digest

__all__ = ["ProbeResult", "run_probes", "write_probes"]

POLL_S = 0.5


@dataclass
class ProbeResult:
    probe: str
    order_no: str = ""
    trade_no: str = ""
    sent_at: float | None = None
    http_status: int | None = None
    reply: str = ""
    acknowledged: bool | None = None
    keys_before: list[str] = field(default_factory=list)  # digests
    keys_after: list[str] = field(default_factory=list)
    stages_after: list[str] = field(default_factory=list)  # mapped, in the order first seen
    problem: str = ""  # why the probe could not be made (empty: it was)

    def row(self) -> dict[str, Any]:
        return {"probe": self.probe, "order_no": self.order_no, "trade_no": self.trade_no,
                "sent_at": self.sent_at, "http_status": self.http_status, "reply": self.reply,
                "acknowledged": self.acknowledged, "keys_before": ";".join(self.keys_before),
                "keys_after": ";".join(self.keys_after),
                "stages_after": ";".join(self.stages_after), "problem": self.problem}


Client = Callable[[httpx.Client], ProfileClient]


def _look(client: ProfileClient, order: dict[str, Any]) -> tuple[str, list[str]]:
    """The order's stage and the digests of the keys shown, now."""
    result = client.run("status", dict(order))
    if not result.ok:
        return "", []
    keys = client.keys(result.extracted.get("keys"))
    stage = client.profile.stage(result.extracted.get("state"))
    if not keys and stage == OrderState.DELIVERED.value and client.has("keys"):
        fetched = client.run("keys", dict(order))
        keys = client.keys(fetched.extracted.get("keys")) if fetched.ok else []
    return stage, sorted({digest(k) for k in keys})


def _watch(client: ProfileClient, order: dict[str, Any], seconds: float,
           until_keys: bool = False) -> tuple[list[str], list[str]]:
    """Stages first seen and the keys shown, polling for `seconds` (or until keys show)."""
    stages: list[str] = []
    keys: list[str] = []
    deadline = time.monotonic() + seconds
    while True:
        stage, shown = _look(client, order)
        if stage and stage not in stages:
            stages.append(stage)
        keys = sorted(set(keys) | set(shown))
        if (until_keys and keys) or time.monotonic() >= deadline:
            return stages, keys
        time.sleep(POLL_S)


def _one(kind: str, make: Client, product: str, gateway: str, cashier: str, budget: Probes
         ) -> ProbeResult:
    out = ProbeResult(kind)
    with httpx.Client(timeout=10.0, trust_env=False) as http:
        client = make(http)
        order: dict[str, Any] = {"product": product, "quantity": 1, "persona": "probe",
                                 "email": "probe@example.com"}
        created = client.run("create_order", order)
        if not created.ok:
            out.problem = f"create_order: {created.problem}"
            return out
        out.order_no = str(order["order_id"])
        if "pay_url" not in order and client.has("pay_url"):
            client.run("pay_url", order)
        journey = to_cashier(HttpxHttp(http), str(order.get("pay_url", "")),
                             lambda u: u.startswith(cashier))
        if journey.cashier is None:
            out.problem = f"no cashier: {journey.problem}"
            return out
        out.trade_no = journey.cashier.rstrip("/").rsplit("/", 1)[-1]
        if kind == "replay":
            if http.post(journey.cashier).status_code != 200:
                out.problem = "the cashier refused the payment"
                return out
            _, out.keys_before = _watch(client, order, budget.deliver_timeout, until_keys=True)
            if not out.keys_before:
                out.problem = f"not delivered within {budget.deliver_timeout:g} s: no " \
                              f"accepted notification to replay"
                return out
        out.sent_at = time.time()
        try:
            answer = http.post(f"{gateway}/admin/probe",
                               json={"kind": kind, "trade_no": out.trade_no}).json()
        except (httpx.HTTPError, ValueError) as exc:
            out.problem = f"the gateway did not send it: {exc}"
            return out
        if "error" in answer:
            out.problem = f"the gateway did not send it: {answer['error']}"
            return out
        out.http_status, out.reply = answer.get("status"), str(answer.get("reply", ""))[:200]
        out.acknowledged = bool(answer.get("acknowledged"))
        out.stages_after, out.keys_after = _watch(client, order, budget.wait_s)
    return out


def run_probes(make: Client, products: Sequence[str], gateway: str, cashier: str,
               budget: Probes) -> list[ProbeResult]:
    """Every probe of `budget.kinds`, at once; `make` builds a profile client over an httpx
    client (buyers' side of the shop), `gateway` is the gateway's own URL."""
    if not budget.enabled or not budget.kinds:
        return []
    product = products[0] if products else ""
    with ThreadPoolExecutor(len(budget.kinds)) as pool:
        futures = [pool.submit(_one, kind, make, product, gateway, cashier, budget)
                   for kind in budget.kinds]
    results = []
    for kind, future in zip(budget.kinds, futures, strict=True):
        try:
            results.append(future.result())
        except Exception as exc:  # a shop answering nonsense must not end the drill
            results.append(ProbeResult(kind, problem=f"{type(exc).__name__}: {exc}"))
    return results


def write_probes(results: Sequence[ProbeResult], path: Path) -> int:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PROBE_COLUMNS)
        for r in results:
            row = r.row()
            writer.writerow([cell(row[c]) for c in PROBE_COLUMNS])
    return len(results)

"""Buyer personas as journeys: one greenlet per arriving visitor (imports Locust's HTTP client).

Every shop — the reference shop included — is spoken to through its buyer protocol profile
(`fakalab.contract.profile`, run by `fakalab.scenarios.profile_client`).

browser: the catalog only. buyer: order → pay at the payment URL → "I have paid" (when the shop
has that button) → watch (poll with a think time, or the event stream for `sse_share` of buyers
when the profile has one) until delivered, filing at most one ticket. impatient: the same,
refreshing every `impatient_refresh_s`. double_payer: pays twice. abandoner: orders and never
pays. A shop that answers an order with "busy" (503 or 429 with Retry-After) is tried again
after the hint times U(1, 1.5), up to `busy_retries` times, unless the buyer gives up
(`busy_give_up` at each refusal); Locust counts such an answer as `… (busy)`, not as an error.

With a gateway (`cashier`: the prefix of its cashier URLs, for an external target) the buyer
follows the shop's payment URL — redirects, script locations, self-submitting forms — to the
cashier and pays there. Every buyer writes what it saw of its order (`RecordWriter.buyer`):
created, the cashier reached, paid, "I have paid", each key's SHA-256 the first time it was
shown, and a status that said delivered with no key to fetch. Once the order has ended for
them, a share of buyers claim it was not delivered (`claims`, `fakalab.scenarios.locust.disputes`).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections.abc import Iterator
from typing import Any

import gevent
from geventhttpclient.response import HTTPConnectionClosed
from locust.contrib.fasthttp import FastHttpSession

from fakalab.contract.profile import Profile, Step
from fakalab.contract.scenario import BuyerBehaviour
from fakalab.contract.stages import FINAL_LABELS, OrderState
from fakalab.scenarios.locust.busy import retry_after
from fakalab.scenarios.locust.disputes import Disputes
from fakalab.scenarios.locust.http import LocustHttp
from fakalab.scenarios.locust.patience import Watch
from fakalab.scenarios.locust.records import RecordWriter
from fakalab.scenarios.locust.spans import BuyerSpans
from fakalab.scenarios.paypage import to_cashier
from fakalab.scenarios.profile_client import (
    TRACEPARENT,
    Answer,
    ProfileClient,
    TargetPlugin,
    digest,
    extract,
    journey_trace,
)
from fakalab.scenarios.trace_sampler import TraceSampler

__all__ = ["Journeys"]

_journeys = itertools.count(1)


class Journeys:
    def __init__(self, session: FastHttpSession, behaviour: BuyerBehaviour,
                 writer: RecordWriter, profile: Profile, base_url: str,
                 cashier: str | None = None, plugin: TargetPlugin | None = None,
                 sampler: TraceSampler | None = None, spans: BuyerSpans | None = None) -> None:
        self.session = session
        # Trace ids and the sampling draw come from a source of their own, never the journey's
        # seeded one: a traced drill places the very orders of its seeded schedule (products,
        # patience, live stream), as an untraced one does (simulate/schedule.py).
        self.trace_rng = random.Random()
        self.behaviour = behaviour
        self.writer = writer
        self.spans = spans  # the buyers' own spans of sampled journeys (docs/tracing.md)
        self.http = LocustHttp(session, spans)
        self.client = ProfileClient(profile, self.http, base_url, plugin)
        self.cashier = cashier  # the gateway's cashier URLs start so (None: pay_url is one)
        self.sampler = sampler  # None: no traceparent (docs/tracing.md)
        self.disputes = Disputes(self.client, behaviour.claims, writer)

    def run(self, persona: str, rng: random.Random) -> None:
        if persona == "browser":
            if self.client.has("list_products"):
                self.client.run("list_products", {})
            return
        trace = journey_trace(self.trace_rng, self.sampler)
        journey = None if self.spans is None else self.spans.start(trace)
        order: dict[str, Any] | None = None
        try:
            order = self._order(persona, rng, trace)
            if order is not None and persona != "abandoner":
                self._buy(order, persona, rng)
        finally:
            if self.spans is not None:  # the journey's root span
                self.spans.end(journey, persona, None if order is None else order["order_id"])

    def _buy(self, order: dict[str, Any], persona: str, rng: random.Random) -> None:
        if not self._pay(order, 2 if persona == "double_payer" else 1):
            return  # the payment page kept failing: this buyer never paid, so never says so
        if self.client.has("i_have_paid"):
            self.client.run("i_have_paid", order)
            self.writer.buyer(order["order_id"], time.time(), "said_paid", "")
        low, high = self.behaviour.patience_s
        watch = Watch(time.time(), rng.uniform(low, high), self.behaviour.max_wait_s)
        if not (persona != "impatient" and self.client.profile.events is not None
                and rng.random() < self.behaviour.sse_share
                and self._watch_sse(order, persona, watch)):
            self._watch_poll(order, persona, watch, rng)  # also when the stream broke off
        # the order ended for the buyer: shown the keys, told delivered without them, or left
        if watch.gave_up or order.get("_digests") or order.get("_no_key"):
            self.disputes.after(order, bool(order.get("_digests")), rng)

    def _pay(self, order: dict[str, Any], times: int) -> bool:
        """Pay at the payment URL `times` times; a failing payment page is tried up to 3 times,
        `think_s` apart. Whether the buyer paid at all."""
        if "pay_url" not in order and self.client.has("pay_url"):
            self.client.run("pay_url", order)
        if "pay_url" not in order:
            return False
        cashier = self._cashier(order)
        if cashier is None:
            return False
        paid = False
        for _ in range(times):
            for attempt in range(3):
                if attempt:
                    gevent.sleep(self.behaviour.think_s)
                if self._post(cashier, order.get(TRACEPARENT)) == 200:
                    paid = True
                    self.writer.buyer(order["order_id"], time.time(), "paid", cashier)
                    break
        return paid

    def _post(self, url: str, trace: str | None) -> int:
        """Pay at `url` (a CLIENT span of the journey when it is traced)."""
        span = None if self.spans is None else self.spans.child(trace)
        headers = {"traceparent": span[0] if span is not None else trace} if trace else None
        started_ns = time.time_ns()
        status = int(self.session.post(url, name="pay_url", headers=headers).status_code or 0)
        if span is not None and self.spans is not None:
            self.spans.client(span, "pay_url", started_ns, status)
        return status

    def _cashier(self, order: dict[str, Any]) -> str | None:
        """The cashier URL the buyer pays at: the payment URL itself, or (with a gateway)
        where the shop's payment page leads; None when it leads nowhere."""
        url = str(order["pay_url"])
        if self.cashier is None:
            return url
        prefix = self.cashier
        journey = to_cashier(self.http, url, lambda u: u.startswith(prefix))
        if journey.cashier is not None:
            self.writer.buyer(order["order_id"], time.time(), "cashier", journey.cashier)
        return journey.cashier

    def _order(self, persona: str, rng: random.Random, trace: str | None = None
               ) -> dict[str, Any] | None:
        """Place the order; a busy shop's refusal is retried after its hint (or the buyer
        gives up). Every try is written to attempts.csv."""
        products = self.behaviour.products
        product = rng.choices(list(products), list(products.values()))[0]
        journey = f"{os.getpid()}-{next(_journeys)}"
        behaviour = self.behaviour
        for attempt in range(1, behaviour.busy_retries + 2):
            context: dict[str, Any] = {"product": product, "quantity": 1, "persona": persona,
                                       "email": f"{persona}@example.com"}
            if trace is not None:  # every request of the journey carries it
                context[TRACEPARENT] = trace
            result = self.client.run("create_order", context)
            answer = result.answer
            wait = retry_after(answer.status, dict(answer.headers))
            outcome = "created" if result.ok else "refused" if wait is not None else "failed"
            self.writer.attempt(journey, time.time(), persona, attempt, outcome, answer.status,
                                round(answer.seconds * 1000, 2), wait,
                                context.get("order_id") if result.ok else None)
            if result.ok:
                self.writer.buyer(context["order_id"], time.time(), "created", json.dumps({
                    "persona": persona, "product_id": product, "quantity": 1,
                    "amount": context.get("amount"), "state": context.get("state")}))
                return context
            if wait is None:
                return None
            delay = wait * rng.uniform(1.0, 1.5)
            if attempt > behaviour.busy_retries or delay > behaviour.max_wait_s \
                    or rng.random() < behaviour.busy_give_up:
                self.writer.attempt(journey, time.time(), persona, attempt, "gave_up",
                                    answer.status, None, wait, None)
                return None
            gevent.sleep(delay)
        return None

    def _watch_poll(self, order: dict[str, Any], persona: str, watch: Watch,
                    rng: random.Random) -> None:
        while True:
            result = self.client.run("status", dict(order))
            view = result.extracted if result.ok else {}
            if self._seen(order, persona, "poll", result.answer.status,
                          result.answer.seconds * 1000, view, watch):
                return
            if persona == "impatient":
                gevent.sleep(self.behaviour.impatient_refresh_s)
            else:
                gevent.sleep(self.behaviour.think_s * rng.uniform(0.5, 1.5))

    def _watch_sse(self, order: dict[str, Any], persona: str, watch: Watch) -> bool:
        """Watch through the event stream; False when it ended before the buyer was done."""
        step = self.client.profile.events
        assert step is not None
        sent = self.client.request(step, order)
        started = time.perf_counter()
        response = self.session.get(sent.url, headers=sent.headers, name="events",
                                    stream=True)
        if response.status_code != 200:
            return self._seen(order, persona, "sse", response.status_code,
                              (time.perf_counter() - started) * 1000, {}, watch)
        view: dict[str, Any] = {}
        for line in _lines(response):
            if line.startswith("data:"):
                view = self._event(step, line[5:])
                done = self._seen(order, persona, "sse", 200, 0.0, view, watch)
            elif line.startswith(":") and view:
                done = self._judge(order, watch, view)
            else:
                continue
            if done:
                return True
        return False

    def _event(self, step: Step, data: str) -> dict[str, Any]:
        """What the profile reads from one event's data."""
        answer, parsed = Answer(200, data), _json(data)
        found = {key: extract(how, answer, parsed) for key, how in step.extract.items()}
        return {k: v for k, v in found.items() if v is not None}

    def _seen(self, order: dict[str, Any], persona: str, via: str, status: int,
              latency_ms: float, view: dict[str, Any], watch: Watch) -> bool:
        now = time.time()
        self.writer.poll(order["order_id"], now, persona, via, status,
                         round(latency_ms, 2), view.get("state"), view.get("message"),
                         view.get("eta"))
        self._keys(order, now, view)
        return self._judge(order, watch, view)

    def _keys(self, order: dict[str, Any], now: float, view: dict[str, Any]) -> None:
        """Record each key the first time it is shown (its digest); when the shop says
        delivered and shows none, ask its keys page (if it has one) before noting it."""
        keys = self.client.keys(view.get("keys"))
        delivered = self.client.profile.stage(view.get("state")) == OrderState.DELIVERED.value
        if not keys and delivered and self.client.has("keys"):
            fetched = self.client.run("keys", dict(order))
            keys = self.client.keys(fetched.extracted.get("keys")) if fetched.ok else []
        seen: set[str] = order.setdefault("_digests", set())
        for key in keys:
            if digest(key) not in seen:
                seen.add(digest(key))
                self.writer.buyer(order["order_id"], now, "key", digest(key))
        if delivered and not keys and not seen and not order.get("_no_key"):
            order["_no_key"] = True
            self.writer.buyer(order["order_id"], now, "no_key", str(view.get("state")))

    def _judge(self, order: dict[str, Any], watch: Watch, view: dict[str, Any]) -> bool:
        now = time.time()
        state = "" if view.get("state") is None else str(view["state"])
        reason = watch.observe(now, state, str(view.get("message", "")), view.get("eta"))
        if reason is not None:
            waited = round(now - watch.paid_at, 3)
            if self.client.has("support_ticket"):  # the shop's own ticket desk
                self.client.run("support_ticket", {**order, "reason": reason, "waited_s": waited,
                                                   "message": f"simulated buyer: {reason}"})
            self.writer.ticket(order["order_id"], now, reason, waited)
        return watch.gave_up or self.client.profile.stage(state) in FINAL_LABELS \
            or state in FINAL_LABELS


def _json(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _lines(response: Any) -> Iterator[str]:
    """The stream's lines as they arrive. A fixed-size read would hold events back until 4 KB
    had accumulated (seconds, on a quiet stream), so the buyer would "see" them late."""
    raw = response._response
    while True:
        try:
            line = raw.readline(b"\n")
        except (ConnectionError, OSError, HTTPConnectionClosed):
            return
        if not line:
            return
        yield line.decode("utf-8", "replace").rstrip("\r\n")

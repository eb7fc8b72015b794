"""Buyer personas as journeys: one greenlet per arriving visitor (imports Locust's HTTP client).

browser: the catalog only. buyer: order → pay at the channel's pay_url → "I have paid" → watch
(poll with a think time, or SSE for `sse_share` of buyers) until delivered, filing at most one
ticket. impatient: the same, refreshing every `impatient_refresh_s`. double_payer: pays twice.
abandoner: orders and never pays.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import gevent
from geventhttpclient.response import HTTPConnectionClosed
from locust.contrib.fasthttp import FastHttpSession

from fakalab.contract.scenario import BuyerBehaviour
from fakalab.contract.stages import FINAL_LABELS
from fakalab.scenarios.locust.patience import Watch
from fakalab.scenarios.locust.records import RecordWriter

__all__ = ["Journeys"]

ORDER = "/api/orders/[no]"


class Journeys:
    def __init__(self, session: FastHttpSession, behaviour: BuyerBehaviour,
                 writer: RecordWriter) -> None:
        self.session = session
        self.behaviour = behaviour
        self.writer = writer

    def run(self, persona: str, rng: random.Random) -> None:
        if persona == "browser":
            self.session.get("/api/products")
            return
        order = self._order(persona, rng)
        if order is None or persona == "abandoner":
            return
        if not self._pay(order, 2 if persona == "double_payer" else 1):
            return  # the payment page kept failing: this buyer never paid, so never says so
        self.session.post(f"/api/orders/{order['order_no']}/paid", name=f"{ORDER}/paid",
                          headers={"X-Order-Token": order["token"]})
        low, high = self.behaviour.patience_s
        watch = Watch(time.time(), rng.uniform(low, high), self.behaviour.max_wait_s)
        if persona != "impatient" and rng.random() < self.behaviour.sse_share \
                and self._watch_sse(order, persona, watch):
            return
        self._watch_poll(order, persona, watch, rng)  # also when the stream broke off

    def _pay(self, order: dict[str, Any], times: int) -> bool:
        """Pay at the channel `times` times; a failing payment page is tried up to 3 times,
        `think_s` apart. Whether the buyer paid at all."""
        paid = False
        for _ in range(times):
            for attempt in range(3):
                if attempt:
                    gevent.sleep(self.behaviour.think_s)
                if self.session.post(order["pay_url"], name="pay_url").status_code == 200:
                    paid = True
                    break
        return paid

    def _order(self, persona: str, rng: random.Random) -> dict[str, Any] | None:
        products = self.behaviour.products
        product = rng.choices(list(products), list(products.values()))[0]
        response = self.session.post(
            "/api/orders", headers={"X-Fakalab-Persona": persona},
            json={"product_id": product, "quantity": 1, "email": f"{persona}@example.com"})
        if response.status_code != 201:
            return None
        data: dict[str, Any] = response.json()
        return data

    def _watch_poll(self, order: dict[str, Any], persona: str, watch: Watch,
                    rng: random.Random) -> None:
        url, headers = f"/api/orders/{order['order_no']}", {"X-Order-Token": order["token"]}
        while True:
            started = time.perf_counter()
            response = self.session.get(url, headers=headers, name=ORDER)
            latency_ms = (time.perf_counter() - started) * 1000
            view = _json(response.text) if response.status_code == 200 else {}
            if self._seen(order, persona, "poll", response.status_code, latency_ms, view, watch):
                return
            if persona == "impatient":
                gevent.sleep(self.behaviour.impatient_refresh_s)
            else:
                gevent.sleep(self.behaviour.think_s * rng.uniform(0.5, 1.5))

    def _watch_sse(self, order: dict[str, Any], persona: str, watch: Watch) -> bool:
        """Watch through the event stream; False when it ended before the buyer was done."""
        url = f"/api/orders/{order['order_no']}/events"
        started = time.perf_counter()
        response = self.session.get(url, headers={"X-Order-Token": order["token"]},
                                    name=f"{ORDER}/events", stream=True)
        if response.status_code != 200:
            return self._seen(order, persona, "sse", response.status_code,
                              (time.perf_counter() - started) * 1000, {}, watch)
        view: dict[str, Any] = {}
        for line in _lines(response):
            if line.startswith("data:"):
                view = _json(line[5:])
                done = self._seen(order, persona, "sse", 200, 0.0, view, watch)
            elif line.startswith(":") and view:
                done = self._judge(order, watch, view)
            else:
                continue
            if done:
                return True
        return False

    def _seen(self, order: dict[str, Any], persona: str, via: str, status: int,
              latency_ms: float, view: dict[str, Any], watch: Watch) -> bool:
        self.writer.poll(order["order_no"], time.time(), persona, via, status, round(latency_ms, 2),
                         view.get("state"), view.get("message"), view.get("eta_at"))
        return self._judge(order, watch, view)

    def _judge(self, order: dict[str, Any], watch: Watch, view: dict[str, Any]) -> bool:
        now = time.time()
        reason = watch.observe(now, str(view.get("state", "")), str(view.get("message", "")),
                               view.get("eta_at"))
        if reason is not None:
            waited = round(now - watch.paid_at, 3)
            self.session.post("/api/support/tickets", json={
                "order_no": order["order_no"], "reason": reason, "waited_s": waited,
                "message": f"simulated buyer: {reason}"})
            self.writer.ticket(order["order_no"], now, reason, waited)
        return watch.gave_up or view.get("state") in FINAL_LABELS


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

"""An 易支付 (epay) gateway: the payment protocol most 发卡 shops already speak
(`fakalab.contract.epay`), so pointing a shop's epay settings at fakalab is all it takes.

- `submit.php` (GET or POST, query or form): answers the small HTML page of the common gateway,
  whose script sends the browser on to the cashier (`window.location.href='…'`); shops that call
  it server-side scrape that URL out of the page.
- `mapi.php` (POST, or GET): answers JSON `{code: 1, msg, trade_no, payurl, qrcode}`.
- `pay/{trade_no}`: the cashier — GET shows the trade, POST pays it (what a buyer does).
- `api.php?act=order&pid=…&key=…&out_trade_no=…` (or `trade_no=`): the order query.
- After payment: GET `notify_url` with the signed notification, repeated until the shop answers
  the plain text `success` (1, 2, 4, 8, 16 s after each failure, times `retry_scale`).

Tolerant where real gateways are: GET or POST, form or query, `money` as `10`, `10.0` or
`10.00` (the notification carries it with two decimals, as gateways store it), an upper-case
sign. It has the business faults of the other channels (docs/upstreams.md) and journals what
each shop sent and every notify attempt with the shop's reply (`epaybook.py`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from fakalab.contract import epay
from fakalab.reference_shop.upstreams.admin import admin_router
from fakalab.reference_shop.upstreams.callbacks import ATTEMPT_TIMEOUT_S, CallbackSender
from fakalab.reference_shop.upstreams.epaybook import EpayBook, Trade
from fakalab.reference_shop.upstreams.faults import FaultSwitch, PaymentFaults, hits, sample_delay
from fakalab.reference_shop.upstreams.service import Stats, new_app, sleep_ms

__all__ = ["DEFAULT_KEY", "DEFAULT_PID", "PROBES", "create_app"]

DEFAULT_PID = "1000"
DEFAULT_KEY = "fakalab-epay-key"
STATS = ("orders", "paid", "callbacks_sent", "callback_attempts", "callback_failures",
         "acknowledged", "callbacks_exhausted", "dropped", "duplicated", "wrong_amount",
         "queries", "refused")
MAX_FIELD = 2048
# Notifications the drill sends to test a shop's checks (POST /admin/probe), each journaled.
PROBES = ("forged_sign", "wrong_amount", "other_pid", "replay")


class _Notifier(CallbackSender):
    """Notifications as epay sends them: GET with the fields in the query, each journaled."""

    def __init__(self, book: EpayBook, stats: Stats, transport: httpx.AsyncBaseTransport | None,
                 timeout_s: float) -> None:
        super().__init__(stats, transport, timeout_s)
        self.book = book

    async def _attempt(self, url: str, message: dict[str, Any]) -> bool:
        self.stats.inc("callback_attempts")
        trade = self.book.by_trade_no[message["trade_no"]]
        status, reply, seconds = await self.send(url, message)
        ok = acknowledged(status, reply)
        self.book.attempt(trade, message, status, reply, seconds, ok)
        if not ok:
            self.stats.inc("callback_failures")
        return ok

    async def send(self, url: str, message: dict[str, Any]) -> tuple[int | None, str, float]:
        """One GET of `url` with the message in its query: (status or None, reply, seconds)."""
        if self._client is None:
            raise RuntimeError("notifier used before start()")
        target = url + ("&" if "?" in url else "?") + urlencode(message)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.request("GET", target, None, self._timeout_s)
            return response.status_code, response.text, time.perf_counter() - started
        except Exception as exc:  # no answer: connection error, timeout
            return None, f"{type(exc).__name__}: {exc}", time.perf_counter() - started


def acknowledged(status: int | None, reply: str) -> bool:
    """What a gateway reads as "stop retrying": any answer whose text is `success`."""
    return status is not None and reply.strip().lower() == "success"


def other_merchant(pid: str) -> str:
    """A merchant id that is not `pid`."""
    return str(int(pid) + 1) if pid.isdigit() else pid + "-other"


async def _fields(request: Request) -> dict[str, str]:
    """Query and form fields together (shops send either), as text, each cut to MAX_FIELD."""
    fields = {k: v[:MAX_FIELD] for k, v in request.query_params.items()}
    if request.method == "POST":
        try:
            form = await request.form()
        except Exception:  # not a form body: the query alone
            form = None
        if form is not None:
            fields.update({k: str(v)[:MAX_FIELD] for k, v in form.items() if isinstance(v, str)})
    return fields


def create_app(pid: str = DEFAULT_PID, key: str = DEFAULT_KEY,
               public_url: str = "http://127.0.0.1:9107", seed: int = 0,
               faults: PaymentFaults | None = None,
               transport: httpx.AsyncBaseTransport | None = None,
               notify_timeout_s: float = ATTEMPT_TIMEOUT_S, journal: Path | None = None
               ) -> FastAPI:
    """The gateway of one merchant (`pid`, `key`)."""
    switch = FaultSwitch(faults or PaymentFaults())
    stats = Stats(STATS)
    book = EpayBook(journal)
    notifier = _Notifier(book, stats, transport, notify_timeout_s)
    rng = random.Random(seed)
    base_url = public_url.rstrip("/")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await notifier.start()
        for trade in book.owed():  # a restart: notifications still owed are sent again
            notify(trade)
        try:
            yield
        finally:
            await notifier.close()
            book.close()

    app = new_app("fakalab epay gateway", lifespan)
    app.include_router(admin_router("epay", switch, stats,
                                    lambda: {"callbacks_in_flight": notifier.in_flight}))
    app.state.book, app.state.stats, app.state.faults = book, stats, switch

    def notification(trade: Trade, amount: Decimal) -> dict[str, str]:
        fields = {"pid": trade.pid, "trade_no": trade.trade_no,
                  "out_trade_no": trade.out_trade_no, "type": trade.type, "name": trade.name,
                  "money": f"{amount:.2f}", "trade_status": epay.TRADE_SUCCESS,
                  "param": trade.param}
        return epay.signed(fields, key)

    def notify(trade: Trade) -> None:
        current = switch.current
        if hits(rng, current.callback_drop_pct):
            stats.inc("dropped")
            book.notified(trade)  # sent, and lost on the way
            return
        amount = epay.money(trade.money) or Decimal("0.01")
        if hits(rng, current.wrong_amount_pct):
            stats.inc("wrong_amount")
            amount = amount - Decimal("0.01") if amount > Decimal("0.01") else amount + 1
        copies = 2 if hits(rng, current.duplicate_pct) else 1
        stats.inc("duplicated", copies - 1)
        delay = sample_delay(current.callback_delay, rng)
        for _ in range(copies):
            notifier.schedule(trade.notify_url, lambda: notification(trade, amount), delay,
                              current.retry_scale, on_done=lambda: book.notified(trade))

    def refusal(fields: dict[str, str]) -> str | None:
        """Why an order request is refused (the gateways' own wording), None when it is not."""
        if fields.get("pid") != pid:
            return "商户不存在 (no such merchant pid)"
        if not epay.verify(fields, key):
            return "签名校验失败 (signature check failed)"
        missing = [f for f in ("out_trade_no", "notify_url", "money") if not fields.get(f)]
        if missing:
            return f"参数不完整 (missing {', '.join(missing)})"
        if epay.money(fields["money"]) is None:
            return "金额不合法 (money is not a positive amount of at most two decimals)"
        return None

    async def order(request: Request, endpoint: str) -> tuple[Trade | None, str]:
        stats.inc("requests")
        fields = await _fields(request)
        await sleep_ms(switch.current.latency_ms)
        if hits(rng, switch.current.error_pct):
            stats.inc("injected_errors")
            book.request(endpoint, request.method, fields, "injected error")
            return None, "系统繁忙 (gateway error, try again)"
        problem = refusal(fields)
        if problem is not None:
            stats.inc("refused")
            book.request(endpoint, request.method, fields, problem)
            return None, problem
        trade, created = book.create(fields)
        stats.inc("orders", int(created))
        book.request(endpoint, request.method, fields, f"ok {trade.trade_no}")
        return trade, ""

    def cashier(trade: Trade) -> str:
        return f"{base_url}/pay/{trade.trade_no}"

    @app.api_route("/submit.php", methods=["GET", "POST"], response_model=None)
    async def submit(request: Request) -> Response:
        trade, problem = await order(request, "submit.php")
        if trade is None:
            return HTMLResponse(f"<html><body><h3>{escape(problem)}</h3></body></html>", 400)
        page = ("<html><head><meta charset=\"utf-8\"><title>正在跳转</title></head><body>"
                f"<script>window.location.href='{cashier(trade)}';</script></body></html>")
        return HTMLResponse(page)

    @app.api_route("/mapi.php", methods=["GET", "POST"], response_model=None)
    async def mapi(request: Request) -> JSONResponse:
        trade, problem = await order(request, "mapi.php")
        if trade is None:
            return JSONResponse({"code": -1, "msg": problem})
        return JSONResponse({"code": 1, "msg": "succ", "trade_no": trade.trade_no,
                             "payurl": cashier(trade), "qrcode": cashier(trade)})

    @app.get("/pay/{trade_no}", response_model=None)
    async def page(trade_no: str, request: Request) -> Response:
        stats.inc("requests")
        trade = book.by_trade_no.get(trade_no)
        if trade is None:
            return JSONResponse({"code": -1, "msg": "订单不存在 (no such trade)"}, 404)
        shown = {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
                 "name": trade.name, "money": trade.money, "status": trade.status}
        if "text/html" in request.headers.get("accept", ""):
            rows = "".join(f"<p>{k}: {escape(str(v))}</p>" for k, v in shown.items())
            form = f"<form method=\"post\" action=\"{cashier(trade)}\"><button>Pay</button></form>"
            return HTMLResponse(f"<html><body>{rows}{form}</body></html>")
        return JSONResponse(shown)

    @app.post("/pay/{trade_no}", response_model=None)
    async def pay(trade_no: str) -> JSONResponse:
        stats.inc("requests")
        trade = book.by_trade_no.get(trade_no)
        if trade is None:
            return JSONResponse({"code": -1, "msg": "订单不存在 (no such trade)"}, 404)
        already = not book.pay(trade)
        if not already:
            stats.inc("paid")
            notify(trade)
        back = ""
        if trade.return_url:
            signed_back = notification(trade, epay.money(trade.money) or Decimal("0.01"))
            back = trade.return_url + ("&" if "?" in trade.return_url else "?") + urlencode(
                signed_back)
        return JSONResponse({"trade_no": trade_no, "status": "paid", "already": already,
                             "return_url": back})

    @app.get("/api.php", response_model=None)
    async def api(request: Request) -> JSONResponse:
        stats.inc("requests")
        stats.inc("queries")
        fields = dict(request.query_params)
        await sleep_ms(switch.current.query_latency_ms)
        if fields.get("act") != "order":
            return JSONResponse({"code": -1, "msg": "act must be order"})
        if fields.get("pid") != pid or fields.get("key") != key:
            book.request("api.php", "GET", {k: v for k, v in fields.items() if k != "key"},
                         "refused: pid or key")
            return JSONResponse({"code": -3, "msg": "KEY校验失败 (pid or key is wrong)"})
        trade = (book.by_trade_no.get(fields.get("trade_no", ""))
                 or book.by_order.get((pid, fields.get("out_trade_no", ""))))
        if trade is None:
            return JSONResponse({"code": -1, "msg": "订单号不存在 (no such order)"})
        paid = trade.paid_at
        book.request("api.php", "GET", {k: v for k, v in fields.items() if k != "key"},
                     f"status {int(trade.status == 'paid')}")
        return JSONResponse({
            "code": 1, "msg": "查询订单号成功！", "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no, "type": trade.type, "pid": trade.pid,
            "addtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(trade.created_at)),
            "endtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(paid)) if paid else "",
            "name": trade.name, "money": f"{epay.money(trade.money) or 0:.2f}",
            "status": 1 if trade.status == "paid" else 0, "param": trade.param})

    def probe_fields(kind: str, trade: Trade) -> dict[str, str] | None:
        genuine = notification(trade, epay.money(trade.money) or Decimal("0.01"))
        if kind == "forged_sign":
            return {**genuine, "sign": epay.sign(genuine, key + "-not-the-key")}
        if kind == "wrong_amount":
            amount = epay.money(trade.money) or Decimal("0.01")
            return notification(trade, amount - Decimal("0.01") if amount > Decimal("0.01")
                                else amount + 1)
        if kind == "other_pid":  # signed with this merchant's key: only a pid check stops it
            return epay.signed({**genuine, "pid": other_merchant(trade.pid)}, key)
        return book.acknowledged.get(trade.trade_no)  # replay: the one the shop took

    @app.post("/admin/probe", response_model=None)
    async def probe(request: Request) -> JSONResponse:
        """Send one test notification of `kind` for a trade (by `trade_no` or
        `out_trade_no`) to its notify_url, once, and journal it with the shop's reply."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("kind") not in PROBES:
            return JSONResponse({"error": f"kind must be one of {', '.join(PROBES)}"}, 400)
        trade = (book.by_trade_no.get(str(body.get("trade_no", "")))
                 or book.by_order.get((pid, str(body.get("out_trade_no", "")))))
        if trade is None:
            return JSONResponse({"error": "no such trade"}, 404)
        fields = probe_fields(body["kind"], trade)
        if fields is None:
            return JSONResponse({"error": "nothing to replay: the shop acknowledged no "
                                 "notification of this trade"}, 409)
        status, reply, seconds = await notifier.send(trade.notify_url, fields)
        ok = acknowledged(status, reply)
        book.probe(trade, body["kind"], fields, status, reply, seconds, ok)
        return JSONResponse({"kind": body["kind"], "trade_no": trade.trade_no,
                             "out_trade_no": trade.out_trade_no, "fields": fields,
                             "status": status, "reply": reply[:200], "acknowledged": ok})

    return app

"""The epay gateway's book: trades by trade number and by merchant order, and a journal.

With a journal (`fakalab upstreams --only epay --state-dir DIR` → `DIR/epay.jsonl`) every change
is appended as one JSON line and flushed before the request is answered, so a SIGKILLed gateway
restarts with its trades and sends the notifications it still owes. The same file records, for
the run directory, what each shop sent (`request`) and every notify attempt with the shop's
reply (`notify`). A torn last line is skipped.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal

__all__ = ["EpayBook", "Trade"]


@dataclass
class Trade:
    trade_no: str
    pid: str
    out_trade_no: str
    type: str
    name: str
    money: str  # as the shop sent it
    notify_url: str
    return_url: str
    param: str = ""
    status: Literal["pending", "paid"] = "pending"
    created_at: float = 0.0
    paid_at: float | None = None
    notified: bool = False  # the notification was acknowledged, dropped, or gave up


class EpayBook:
    def __init__(self, journal: Path | None = None) -> None:
        self.by_trade_no: dict[str, Trade] = {}
        self.by_order: dict[tuple[str, str], Trade] = {}
        self.acknowledged: dict[str, dict[str, str]] = {}  # trade_no -> the notice taken
        self._journal: IO[str] | None = None
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            if journal.exists():
                self._replay(journal.read_text().splitlines())
            self._journal = journal.open("a")

    def create(self, fields: dict[str, str]) -> tuple[Trade, bool]:
        """The trade of (pid, out_trade_no), and whether it was created now."""
        key = (fields["pid"], fields["out_trade_no"])
        existing = self.by_order.get(key)
        if existing is not None:
            return existing, False
        trade = Trade(trade_no=time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:10],
                      pid=fields["pid"], out_trade_no=fields["out_trade_no"],
                      type=fields.get("type", ""), name=fields.get("name", ""),
                      money=fields["money"], notify_url=fields["notify_url"],
                      return_url=fields.get("return_url", ""), param=fields.get("param", ""),
                      created_at=time.time())
        self._add(trade)
        self._write({"op": "create", **asdict(trade)})
        return trade, True

    def pay(self, trade: Trade) -> bool:
        """Mark paid; False when it already was."""
        if trade.status == "paid":
            return False
        trade.status, trade.paid_at = "paid", time.time()
        self._write({"op": "pay", "trade_no": trade.trade_no, "paid_at": trade.paid_at})
        return True

    def notified(self, trade: Trade) -> None:
        if not trade.notified:
            trade.notified = True
            self._write({"op": "notified", "trade_no": trade.trade_no})

    def owed(self) -> list[Trade]:
        return [t for t in self.by_trade_no.values() if t.status == "paid" and not t.notified]

    def request(self, endpoint: str, method: str, fields: dict[str, str], outcome: str) -> None:
        """What a shop sent to `endpoint`, and what the gateway made of it."""
        self._write({"op": "request", "at": time.time(), "endpoint": endpoint, "method": method,
                     "fields": fields, "outcome": outcome})

    def attempt(self, trade: Trade, fields: dict[str, str], status: int | None, reply: str,
                seconds: float, acknowledged: bool) -> None:
        """One notify attempt and the shop's reply (None: no answer)."""
        if acknowledged:
            self.acknowledged.setdefault(trade.trade_no, dict(fields))
        self._write({"op": "notify", "at": time.time(), "trade_no": trade.trade_no,
                     "out_trade_no": trade.out_trade_no, "fields": fields, "status": status,
                     "reply": reply[:200], "seconds": round(seconds, 4),
                     "acknowledged": acknowledged})

    def probe(self, trade: Trade, kind: str, fields: dict[str, str], status: int | None,
              reply: str, seconds: float, acknowledged: bool) -> None:
        """A test notification the drill had sent (forged, wrong amount, …) and the reply."""
        self._write({"op": "probe", "at": time.time(), "kind": kind, "trade_no": trade.trade_no,
                     "out_trade_no": trade.out_trade_no, "fields": fields, "status": status,
                     "reply": reply[:200], "seconds": round(seconds, 4),
                     "acknowledged": acknowledged})

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _add(self, trade: Trade) -> None:
        self.by_trade_no[trade.trade_no] = trade
        self.by_order[(trade.pid, trade.out_trade_no)] = trade

    def _write(self, entry: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._journal.flush()  # in the OS before the answer: a process kill loses nothing

    def _replay(self, lines: list[str]) -> None:
        fields = set(Trade.__dataclass_fields__)
        for line in lines:
            try:
                entry = json.loads(line)
                op = entry["op"]
                if op == "create":
                    self._add(Trade(**{k: v for k, v in entry.items() if k in fields}))
                elif op == "pay":
                    trade = self.by_trade_no[entry["trade_no"]]
                    trade.status, trade.paid_at = "paid", entry.get("paid_at")
                elif op == "notified":
                    self.by_trade_no[entry["trade_no"]].notified = True
                elif op == "notify" and entry.get("acknowledged"):
                    self.acknowledged.setdefault(entry["trade_no"], entry["fields"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line

"""A payment channel's book of payments: in memory, and optionally journaled to a file.

A real provider never forgets a payment, nor a notification it still owes. With a journal
(``fakalab upstreams --state-dir DIR`` → ``DIR/payment-a.jsonl``) every change is appended as one
JSON line and flushed before the request is answered, so a SIGKILLed channel restarts with its
payments and re-sends the notifications that were still due. A torn last line (the kill came
mid-write) is skipped.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

__all__ = ["Payment", "PaymentBook"]


@dataclass
class Payment:
    payment_id: str
    trade_no: str
    amount: str
    notify_url: str
    status: Literal["pending", "paid"] = "pending"
    paid_at: str | None = None
    notified: bool = False  # the notification of the payment was delivered, dropped or gave up

    def page(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ("payment_id", "trade_no", "amount", "status")}

    def fields(self, amount: str | None = None) -> dict[str, Any]:
        """The signed fields of a callback or query answer (``paid_at`` is null while pending)."""
        return {**self.page(), "amount": amount or self.amount, "paid_at": self.paid_at}


class PaymentBook:
    """Payments by payment id and by the shop's trade number."""

    def __init__(self, channel: str, journal: Path | None = None) -> None:
        self.channel = channel
        self.by_id: dict[str, Payment] = {}
        self.by_trade_no: dict[str, Payment] = {}
        self._journal: IO[str] | None = None
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            if journal.exists():
                self._replay(journal.read_text().splitlines())
            self._journal = journal.open("a")

    def create(self, trade_no: str, amount: str, notify_url: str) -> tuple[Payment, bool]:
        """The payment of ``trade_no`` and whether it was created now."""
        existing = self.by_trade_no.get(trade_no)
        if existing is not None:
            return existing, False
        payment = Payment(f"P{self.channel}{uuid.uuid4().hex[:20]}", trade_no, amount, notify_url)
        self._add(payment)
        self._write({"op": "create", "payment_id": payment.payment_id, "trade_no": trade_no,
                     "amount": amount, "notify_url": notify_url})
        return payment, True

    def pay(self, payment: Payment) -> bool:
        """Mark paid; False when it already was."""
        if payment.status == "paid":
            return False
        payment.status = "paid"
        payment.paid_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._write({"op": "pay", "payment_id": payment.payment_id, "paid_at": payment.paid_at})
        return True

    def notified(self, payment: Payment) -> None:
        """The payment's notification is settled (acknowledged, dropped, or retries exhausted)."""
        if not payment.notified:
            payment.notified = True
            self._write({"op": "notified", "payment_id": payment.payment_id})

    def owed(self) -> list[Payment]:
        """Paid payments whose notification is not settled (after a restart: to send again)."""
        return [p for p in self.by_id.values() if p.status == "paid" and not p.notified]

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _add(self, payment: Payment) -> None:
        self.by_id[payment.payment_id] = payment
        self.by_trade_no[payment.trade_no] = payment

    def _write(self, entry: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.write(json.dumps(entry) + "\n")
            self._journal.flush()  # in the OS before the answer: a process kill loses nothing

    def _replay(self, lines: list[str]) -> None:
        for line in lines:
            try:
                entry = json.loads(line)
                op = entry["op"]
                if op == "create":
                    self._add(Payment(entry["payment_id"], entry["trade_no"], entry["amount"],
                                      entry["notify_url"]))
                    continue
                payment = self.by_id[entry["payment_id"]]
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line
            if op == "pay":
                payment.status, payment.paid_at = "paid", entry.get("paid_at")
            elif op == "notified":
                payment.notified = True

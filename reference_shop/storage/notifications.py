"""Delivery e-mails sent (or failed after their retries), one per delivered order."""

from __future__ import annotations

from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["record_notification", "unnotified_deliveries"]


def record_notification(c: Cursor, order_no: str, status: str, at: float) -> None:
    c.run("INSERT INTO notifications (order_no, status, at) VALUES (?, ?, ?)", order_no,
          status, at)


def unnotified_deliveries(c: Cursor) -> list[tuple[str, str]]:
    """(order_no, email) of delivered orders with no notification recorded."""
    return [(r[0], r[1]) for r in c.all(
        "SELECT o.order_no, o.email FROM orders o WHERE o.state = ? AND NOT EXISTS "
        "(SELECT 1 FROM notifications n WHERE n.order_no = o.order_no)",
        OrderState.DELIVERED.value)]

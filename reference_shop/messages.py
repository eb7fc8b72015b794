"""What the buyer is shown in each state, in the two transparency modes (pure).

``transparent`` names the real stage with a human message and an ETA; ``opaque`` shows what
typical shops show: an unpaid/processing/completed label and nothing else.
"""

from __future__ import annotations

from fakalab.contract.stages import OrderState, Transparency

__all__ = ["opaque_label", "risk_warning", "stage_message", "visible_in"]

S = OrderState


_MESSAGES: dict[OrderState, str] = {
    S.PENDING_PAYMENT: "Waiting for your payment. Your keys are reserved until the order expires.",
    S.PAID: "Payment received. Your order is in the delivery queue.",
    S.RISK_CHECK: "Running the routine security check on your order.",
    S.ALLOCATING: "Taking your key(s) from stock.",
    S.DELIVERING: "Attaching your key(s) to the order.",
    S.DELIVERED: "Delivered. Your key(s) are shown below.",
    S.EXPIRED: "The payment window closed and the reserved keys were released.",
    S.NEEDS_REVIEW: (
        "Your order was flagged by the security check and waits for a person to review it. "
        "Your payment is safe."
    ),
    S.NEEDS_ATTENTION: (
        "Delivery could not finish automatically. Staff have been alerted and will deliver or "
        "refund; your payment is safe."
    ),
    S.NEEDS_REFUND: (
        "Your payment arrived after the order expired and the item is no longer available. "
        "A refund is being prepared."
    ),
    S.REFUNDED: "Your payment was refunded.",
}

_SUPPLIER_ALLOCATING = "Fetching your key from the supplier."

_OPAQUE: dict[OrderState, str] = {
    S.PENDING_PAYMENT: "unpaid",
    S.EXPIRED: "closed",
    S.DELIVERED: "completed",
    S.REFUNDED: "refunded",
}


def stage_message(state: OrderState, *, supplier: bool = False) -> str:
    """The transparent message for a state."""
    if state is S.ALLOCATING and supplier:
        return _SUPPLIER_ALLOCATING
    return _MESSAGES[state]


def opaque_label(state: OrderState) -> str:
    """What an opaque shop shows: unpaid, processing, completed, closed or refunded."""
    return _OPAQUE.get(state, "processing")


def visible_in(mode: Transparency, previous: OrderState | None, state: OrderState) -> bool:
    """Whether the buyer can see that this transition happened, in ``mode``."""
    if mode is Transparency.TRANSPARENT or previous is None:
        return True
    return opaque_label(previous) != opaque_label(state)


def risk_warning(wait_s: float, sla_s: float) -> str:
    """What a buyer is told before paying when the order is likely to be late (delay risk)."""
    minutes = max(1, round(wait_s / 60))
    late = f"about {round(wait_s)} seconds" if wait_s < 120 else f"about {minutes} minutes"
    return (f"Deliveries are slower than usual right now: if you pay now, expect your key in "
            f"{late} (we usually deliver within {round(sla_s)} seconds). You can pay now or "
            f"come back later.")

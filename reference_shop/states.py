"""The order state machine (pure) over the stages of `fakalab.contract.stages`.

pending_payment → paid → risk_check → allocating → delivering → delivered, with the side states
expired, needs_review (risk), needs_attention (retries exhausted), needs_refund and refunded.
Every transition the shop makes goes through :func:`check_transition`.
"""

from __future__ import annotations

from fakalab.contract.stages import IN_FLIGHT_STATES, OrderState

__all__ = [
    "IN_FLIGHT",
    "PAID_STATES",
    "TERMINAL",
    "TRANSITIONS",
    "IllegalTransition",
    "OrderState",
    "check_transition",
    "is_allowed",
]


S = OrderState

TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.EXPIRED}),
    S.PAID: frozenset({S.RISK_CHECK, S.NEEDS_ATTENTION}),
    S.RISK_CHECK: frozenset({S.ALLOCATING, S.NEEDS_REVIEW, S.NEEDS_ATTENTION}),
    S.ALLOCATING: frozenset({S.DELIVERING, S.NEEDS_ATTENTION}),
    S.DELIVERING: frozenset({S.DELIVERED, S.NEEDS_ATTENTION}),
    S.DELIVERED: frozenset(),
    # A callback after expiry: accepted inside the late-payment window if stock allows.
    S.EXPIRED: frozenset({S.PAID, S.NEEDS_REFUND}),
    # An admin approves (re-delivers) or refunds.
    S.NEEDS_REVIEW: frozenset({S.ALLOCATING, S.REFUNDED}),
    S.NEEDS_ATTENTION: frozenset({S.PAID, S.REFUNDED}),
    S.NEEDS_REFUND: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
}

# States with no way out.
TERMINAL = frozenset(state for state, targets in TRANSITIONS.items() if not targets)
# States in which a worker owns the order: picked up again after a crash.
IN_FLIGHT = IN_FLIGHT_STATES
# States that mean "the buyer's money arrived".
PAID_STATES = frozenset(
    {*IN_FLIGHT, S.DELIVERED, S.NEEDS_REVIEW, S.NEEDS_ATTENTION, S.NEEDS_REFUND, S.REFUNDED}
)


class IllegalTransition(ValueError):
    """A transition the state machine forbids."""

    def __init__(self, current: OrderState, target: OrderState) -> None:
        super().__init__(f"illegal transition {current.value} -> {target.value}")
        self.current = current
        self.target = target


def is_allowed(current: OrderState, target: OrderState) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: OrderState | str, target: OrderState | str) -> OrderState:
    """Return ``target`` as a state if ``current -> target`` is allowed, else raise."""
    cur, tgt = OrderState(current), OrderState(target)
    if not is_allowed(cur, tgt):
        raise IllegalTransition(cur, tgt)
    return tgt

"""When a watching buyer files a support ticket (pure).

A buyer draws a patience. They file one ticket when what they see (state, message, ETA) has not
changed for longer than that patience (`stale_status`), or when an ETA they were shown has passed
(`eta_passed`); after `max_wait_s` since "I have paid" they give up (`gave_up`, also a ticket
when none was filed yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fakalab.contract.stages import FINAL_LABELS

__all__ = ["Watch"]


@dataclass
class Watch:
    paid_at: float
    patience_s: float
    max_wait_s: float
    ticket: str | None = None
    gave_up: bool = False
    _seen: tuple[str, str, float | None] | None = field(default=None, repr=False)
    _since: float = field(default=0.0, repr=False)
    _first_eta: float | None = field(default=None, repr=False)

    def observe(self, at: float, state: str, message: str, eta: float | None) -> str | None:
        """Record what the buyer sees at `at`; the reason of a ticket to file now, or None."""
        view = (state, message, eta)
        if view != self._seen:
            # The first view counts from "I have paid": nothing new was shown before it.
            self._since = min(at, self.paid_at) if self._seen is None else at
            self._seen = view
        if eta is not None and self._first_eta is None:
            self._first_eta = eta
        if state in FINAL_LABELS:
            return None
        if at - self.paid_at >= self.max_wait_s:
            self.gave_up = True
            return self._file("gave_up")
        if self.ticket is not None:
            return None
        if self._first_eta is not None and at > self._first_eta:
            return self._file("eta_passed")
        if at - self._since > self.patience_s:
            return self._file("stale_status")
        return None

    def _file(self, reason: str) -> str | None:
        if self.ticket is not None:
            return None
        self.ticket = reason
        return reason

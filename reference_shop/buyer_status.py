"""The status document a buyer gets: the cached view plus the live fields (the time, the open
incidents on what the order waits for, the time since payment)."""

from __future__ import annotations

import json
import time
from typing import Any

from fakalab.contract.stages import Transparency
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.statuspage import StatusPage
from fakalab.reference_shop.views import OrderView

__all__ = ["BuyerStatus"]

S = OrderState


class BuyerStatus:
    def __init__(self, mode: Transparency, status: StatusPage) -> None:
        self.mode = mode
        self.status = status

    def body(self, view: OrderView) -> bytes:
        """The JSON a buyer gets: the pre-encoded view plus the live fields."""
        now = time.time()
        tail = b',"server_time":%.3f' % now
        if self.mode is Transparency.TRANSPARENT:
            incidents = self.incidents_for(view)
            tail += b',"incidents":' + (json.dumps(incidents, separators=(",", ":")).encode()
                                        if incidents else b"[]")
            if view.paid_at:
                tail += b',"since_paid_s":%.1f' % (now - view.paid_at)
        return view.encoded(self.mode) + tail + b"}"

    def incidents_for(self, view: OrderView) -> list[dict[str, Any]]:
        """Open incidents on the components this order is waiting on."""
        if self.mode is Transparency.OPAQUE or not self.status.open:
            return []
        state = view.state
        if state in (S.DELIVERED, S.EXPIRED, S.REFUNDED):
            return []
        if state in (S.NEEDS_ATTENTION, S.NEEDS_REVIEW):
            affected = set(self.status.open)  # whatever went wrong may explain the wait
        else:
            affected = {"fulfilment"}
        if state is S.PENDING_PAYMENT and view.channel:
            affected.add(view.channel)
        if state in (S.PAID, S.RISK_CHECK):
            affected.add("risk")
        if state in (S.PAID, S.RISK_CHECK, S.ALLOCATING) and view.kind == "supplier":
            affected |= {"supplier-a", "supplier-b"}
        return [{"incident_id": i.incident_id, "component": i.component, "state": i.state,
                 "message": i.message, "updated_at": i.updated_at}
                for i in self.status.open.values() if i.component in affected]

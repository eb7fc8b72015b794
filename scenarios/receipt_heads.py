"""The drill's record of the shop's signed receipt heads (docs/receipts.md): each new head the
shop publishes is appended to ``RUN_DIR/receipt_heads.jsonl`` with the consistency proof from
the previous one, checked as it arrives. A history the shop rewrites later — even re-signed
with its own key — no longer produces these heads, and ``fakalab audit`` (receipts_verify) and
``fakalab receipt verify --previous RUN_DIR/receipt_heads.jsonl`` say so.

One line per head: ``{"recorded_at", "public_key", "tree_head", "from_size", "proof",
"consistent"}`` (the last three absent on the first line).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from fakalab.contract.merkle import verify_consistency
from fakalab.contract.receipt import ReceiptError, TreeHead
from fakalab.contract.rundir import RECORDED_HEADS

__all__ = ["RECORDED_HEADS", "HeadRecorder"]


class HeadRecorder:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / RECORDED_HEADS
        self.last: TreeHead | None = None
        self.inconsistent = 0

    async def poll(self, http: httpx.AsyncClient, shop_url: str) -> TreeHead | None:
        """Record the shop's latest head if it is new (None: nothing new, receipts off, or the
        shop not answering — a drill may have killed it)."""
        try:
            r = await http.get(shop_url + "/api/receipts/head")
            if r.status_code != 200:
                return None
            doc = r.json()
            head = TreeHead.of(doc.get("tree_head"))
            if self.last is not None and head.size <= self.last.size:
                return None
            line: dict[str, Any] = {"recorded_at": round(time.time(), 3),
                                    "public_key": doc.get("public_key"),
                                    "tree_head": head.as_dict()}
            if self.last is not None:
                line |= await self._consistency(http, shop_url, self.last, head)
        except (httpx.HTTPError, ValueError, ReceiptError, AttributeError):
            return None
        with self.path.open("a") as out:
            out.write(json.dumps(line) + "\n")
        self.last = head
        return head

    async def _consistency(self, http: httpx.AsyncClient, shop_url: str, old: TreeHead,
                           new: TreeHead) -> dict[str, Any]:
        r = await http.get(shop_url + "/api/receipts/consistency",
                           params={"from_size": old.size, "to_size": new.size})
        proof = r.json().get("proof", []) if r.status_code == 200 else []
        ok = r.status_code == 200 and verify_consistency(
            old.size, new.size, bytes.fromhex(old.root), bytes.fromhex(new.root),
            [bytes.fromhex(p) for p in proof])
        self.inconsistent += not ok
        return {"from_size": old.size, "proof": proof, "consistent": ok}

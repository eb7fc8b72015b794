"""The drill's record of signed heads: each new head once, with a checked consistency proof; a
shop that rewrote its log between two heads is marked inconsistent; a shop that is down or has
receipts off is skipped quietly."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fakalab.contract.merkle import MerkleLog, leaf_hash
from fakalab.contract.receipt import TreeHead, public_key_hex, sign_head
from fakalab.reference_shop.receipts import parse_heads
from fakalab.scenarios.receipt_heads import HeadRecorder

KEY = Ed25519PrivateKey.generate()


class FakeShop:
    def __init__(self) -> None:
        self.log = MerkleLog([leaf_hash(b"%d" % i) for i in range(5)])
        self.head: TreeHead | None = None
        self.up = True

    def sign(self) -> None:
        self.head = sign_head(KEY, len(self.log), self.log.root(), 10.0 + len(self.log))

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("refused")
        if self.head is None:
            return httpx.Response(409, json={"error": "no head", "status": 409})
        if request.url.path == "/api/receipts/head":
            return httpx.Response(200, json={"public_key": public_key_hex(KEY),
                                             "tree_head": self.head.as_dict()})
        old, new = (int(request.url.params[k]) for k in ("from_size", "to_size"))
        return httpx.Response(200, json={"from_size": old, "to_size": new, "proof": [
            p.hex() for p in self.log.consistency_proof(old, new)]})


async def test_heads_are_recorded_once_each_and_checked(tmp_path: Path) -> None:
    shop, recorder = FakeShop(), HeadRecorder(tmp_path)
    async with httpx.AsyncClient(transport=httpx.MockTransport(shop.handle)) as http:
        assert await recorder.poll(http, "http://shop") is None  # no head yet
        shop.sign()
        assert await recorder.poll(http, "http://shop") == shop.head
        assert await recorder.poll(http, "http://shop") is None  # the same head again
        shop.log.append(leaf_hash(b"later"))
        shop.sign()
        await recorder.poll(http, "http://shop")
        shop.up = False
        assert await recorder.poll(http, "http://shop") is None  # killed by the drill
        shop.up = True
        rewritten = MerkleLog([leaf_hash(b"forged %d" % i) for i in range(8)])
        shop.log = rewritten
        shop.sign()
        await recorder.poll(http, "http://shop")
    lines = [json.loads(x) for x in (tmp_path / "receipt_heads.jsonl").read_text().splitlines()]
    assert [x["tree_head"]["size"] for x in lines] == [5, 6, 8]
    assert [x.get("consistent") for x in lines] == [None, True, False]
    assert recorder.inconsistent == 1
    assert [h.size for h in parse_heads((tmp_path / "receipt_heads.jsonl").read_text())] == [
        5, 6, 8]

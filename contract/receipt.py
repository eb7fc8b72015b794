"""Verifiable receipts of an order's milestones (pure apart from Ed25519 from `cryptography`).

The shop appends every milestone (an order event) to one append-only Merkle log
(`fakalab.contract.merkle`) and publishes, at intervals, a *signed tree head*: the log's size
and root, signed with an Ed25519 key whose public half the shop publishes. A buyer's receipt
holds the order's events, for each its index in the log and an inclusion proof, and a signed
tree head. Anyone holding the shop's public key checks it offline (`fakalab receipt verify`):
an edited, removed or reordered event, or a forged head, fails. A later head comes with a
consistency proof from an earlier one, so a history rewritten after a head was published —
even with every hash inside it recomputed — is detected too.

Leaf of an event: SHA-256(0x00 || canonical JSON of the event), canonical = sorted keys, no
spaces, UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fakalab.contract.merkle import leaf_hash, verify_consistency, verify_inclusion

__all__ = ["RECEIPT_VERSION", "ReceiptError", "TreeHead", "canonical", "event_leaf",
           "public_key_hex", "sign_head", "verify_head", "verify_receipt"]

RECEIPT_VERSION = 1
EVENT_FIELDS = ("order_no", "seq", "at", "state", "message", "eta_at", "visible")


class ReceiptError(Exception):
    """A receipt that does not verify; the message says which part and why."""


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_leaf(event: Mapping[str, Any]) -> bytes:
    """The leaf hash of an order event (its milestone fields only)."""
    return leaf_hash(canonical({k: event.get(k) for k in EVENT_FIELDS}))


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: str  # hex
    at: float
    signature: str = ""  # hex Ed25519 over canonical({size, root, at})

    def message(self) -> bytes:
        return canonical({"size": self.size, "root": self.root, "at": self.at})

    def as_dict(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root, "at": self.at,
                "signature": self.signature}

    @classmethod
    def of(cls, data: Any) -> TreeHead:
        if not isinstance(data, Mapping):
            raise ReceiptError("tree head: not an object")
        try:
            return cls(int(data["size"]), str(data["root"]), float(data["at"]),
                       str(data.get("signature", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReceiptError(f"tree head: {exc}") from None


def sign_head(key: Ed25519PrivateKey, size: int, root: bytes, at: float) -> TreeHead:
    head = TreeHead(size, root.hex(), round(at, 3))
    return TreeHead(head.size, head.root, head.at, key.sign(head.message()).hex())


def public_key_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def verify_head(head: TreeHead, public_key: str) -> None:
    """Raise ReceiptError unless `head` is signed by the holder of `public_key` (hex)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        key.verify(bytes.fromhex(head.signature), head.message())
    except (ValueError, InvalidSignature):
        raise ReceiptError("tree head: the signature is not the shop's (forged, or another "
                           "key)") from None


def _hexes(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise ReceiptError(f"{what}: not a list")
    try:
        return [bytes.fromhex(str(v)) for v in values]
    except ValueError:
        raise ReceiptError(f"{what}: not hex") from None


def verify_receipt(receipt: Mapping[str, Any], public_key: str,
                   earlier: Sequence[tuple[TreeHead, list[bytes]]] = ()) -> list[str]:
    """Check a receipt; return what it proves (one line each), or raise ReceiptError.

    `earlier`: heads seen before, each with the consistency proof from it to the receipt's
    head (what the drill records; a buyer who kept an earlier receipt has one)."""
    if receipt.get("version") != RECEIPT_VERSION:
        raise ReceiptError(f"version {receipt.get('version')!r}, this fakalab reads "
                           f"{RECEIPT_VERSION}")
    head = TreeHead.of(receipt.get("tree_head"))
    verify_head(head, public_key)
    events, proofs = receipt.get("events"), receipt.get("proofs")
    if not isinstance(events, list) or not isinstance(proofs, list) or len(events) != len(
            proofs) or not events:
        raise ReceiptError("events and proofs: one proof per event, at least one event")
    order = {e.get("order_no") for e in events if isinstance(e, Mapping)}
    if len(order) != 1:
        raise ReceiptError("events: not all of one order")
    seqs = [e.get("seq") for e in events]
    if seqs != list(range(1, len(events) + 1)):
        raise ReceiptError(f"events: seq {seqs} is not 1, 2, … (an event removed or reordered)")
    root = bytes.fromhex(head.root)
    for event, proof in zip(events, proofs, strict=True):
        if not isinstance(proof, Mapping):
            raise ReceiptError(f"proof of event {event.get('seq')}: not an object")
        index = proof.get("index")
        if not isinstance(index, int) or not verify_inclusion(
                event_leaf(event), index, head.size, _hexes(proof.get("path"), "path"), root):
            raise ReceiptError(f"event {event.get('seq')} ({event.get('state')}) is not in the "
                               f"log the shop signed (edited, or never logged)")
    indexes = [p["index"] for p in proofs]
    if indexes != sorted(indexes):
        raise ReceiptError("events: logged in another order than their seq (reordered)")
    proved = [f"order {order.pop()}: {len(events)} events, last {events[-1].get('state')}, in "
              f"the log of {head.size} entries signed at {head.at}"]
    for old, consistency in earlier:
        verify_head(old, public_key)
        if not verify_consistency(old.size, head.size, bytes.fromhex(old.root), root,
                                  consistency):
            raise ReceiptError(f"the log of {head.size} entries does not extend the one of "
                               f"{old.size} signed at {old.at}: history was rewritten")
        proved.append(f"it extends the log of {old.size} entries signed at {old.at}")
    return proved

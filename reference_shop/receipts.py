"""Verifiable receipts, the shop's side (docs/receipts.md).

Every order event (a milestone: pending_payment, paid, …, delivered) is appended to one
append-only Merkle log (``contract/merkle.py``) and, about once a second when the log grew, the
shop signs its head (size and root) with an Ed25519 key whose public half it publishes. The log
is built *behind* the order path: :meth:`Receipts.tick` reads the events written since the last
tick in one unit of work and stores their leaves with the new signed head in a second one, so
placing or moving an order costs nothing more than before (an event is provable at most about
a second after it was written, like a Certificate Transparency log's merge delay).

A buyer's receipt (:meth:`Receipts.receipt`) holds the order's events as stored, each with its
inclusion proof against the latest signed head, and consistency proofs from the heads the
buyer already holds; ``contract/receipt.py`` checks it offline (``fakalab receipt verify``).
:func:`audit_log` is the same check over the whole database (``fakalab audit``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from fakalab.contract.merkle import MerkleLog
from fakalab.contract.receipt import (
    EVENT_FIELDS,
    RECEIPT_VERSION,
    ReceiptError,
    TreeHead,
    event_leaf,
    public_key_hex,
    sign_head,
    verify_head,
)
from fakalab.contract.rundir import RECORDED_HEADS
from fakalab.reference_shop.interfaces import Clock, Storage
from fakalab.reference_shop.storage import receipts as store
from fakalab.reference_shop.storage.rows import EventRow
from fakalab.reference_shop.storage.writer import Cursor

__all__ = ["HEAD_INTERVAL_S", "RECORDED_HEADS", "NotLogged", "Receipts", "StoredLog",
           "audit_log", "load_key", "milestone", "parse_heads", "stored_log"]

log = logging.getLogger("fakalab.receipts")
HEAD_INTERVAL_S = 1.0
BATCH = 20_000  # events logged per tick at most (a shop catching up after receipts were off)


class NotLogged(Exception):
    """The receipt cannot be given (yet); the message says why, for the buyer."""


def milestone(event: EventRow) -> dict[str, Any]:
    """The fields of an event that its leaf commits to (what a receipt shows)."""
    return {k: getattr(event, k) for k in EVENT_FIELDS}


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def _from_pem(pem: str, where: str) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except ValueError as exc:
        raise ValueError(f"{where}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{where}: not an Ed25519 key")
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    """The signing key in ``path`` (PEM, PKCS#8), created there (mode 0600) when missing."""
    if path.is_file():
        return _from_pem(path.read_text(), str(path))
    key = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(_pem(key))
    return key


class Receipts:
    def __init__(self, db: Storage, key_path: str | None = None, clock: Clock = time.time,
                 interval_s: float = HEAD_INTERVAL_S) -> None:
        self.db = db
        self.key_path = key_path
        self.clock = clock
        self.interval_s = interval_s
        self.log = MerkleLog()
        self.head: TreeHead | None = None
        self._key: Ed25519PrivateKey | None = None
        self._last_event = 0
        self._behind = False  # the last tick took a full batch: more are waiting
        self._lock = asyncio.Lock()

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            raise RuntimeError("receipts: open() first")
        return self._key

    @property
    def public_key(self) -> str:
        return public_key_hex(self.key)

    async def open(self) -> None:
        """At start-up: the key, the stored log and its latest head."""
        self._key = (load_key(Path(self.key_path)) if self.key_path
                     else await self._stored_key())
        stored, head = await self.db.run(lambda c: (store.leaves(c), store.latest_head(c)))
        self.log = MerkleLog([bytes.fromhex(leaf) for leaf, _ in stored])
        self._last_event = stored[-1][1] if stored else 0
        self.head = head
        if head is not None and (head.size > len(self.log)
                                 or self.log.root(head.size).hex() != head.root):
            log.error("receipts: the stored log does not match the head signed at %s "
                      "(the database was changed)", head.at)

    async def _stored_key(self) -> Ed25519PrivateKey:
        fresh = _pem(Ed25519PrivateKey.generate())

        def unit(c: Any) -> str:
            found = store.signing_key(c)
            if found is None:
                store.store_signing_key(c, fresh)
            return found or fresh

        return _from_pem(await self.db.run(unit), "the database's receipt key")

    async def tick(self) -> TreeHead | None:
        """Log the events written since the last tick and sign the new head (None: nothing
        new)."""
        async with self._lock:
            after = self._last_event
            new = await self.db.run(lambda c: store.events_after(c, after, BATCH))
            self._behind = len(new) == BATCH
            if not new:
                return None
            start = len(self.log)
            rows: list[store.LogRow] = []
            for event_id, event in new:
                leaf = event_leaf(milestone(event))
                self.log.append(leaf)
                rows.append((event_id, event.order_no, event.seq, leaf.hex()))
            head = sign_head(self.key, len(self.log), self.log.root(), self.clock())
            try:
                await self.db.run(lambda c: store.append(c, start, rows, head))
            except BaseException:
                self.log.truncate(start)
                raise
            self._last_event, self.head = new[-1][0], head
            return head

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(0 if self._behind else self.interval_s)
            try:
                await self.tick()
            except Exception:  # the next tick tries again; the order path never waits
                self._behind = False
                log.exception("receipts: logging events failed")

    async def flush(self) -> None:
        """At shutdown: log and sign what the last tick left (a crash leaves it to the next
        start)."""
        if self._key is None:
            return
        try:
            await self.tick()
        except Exception:
            log.exception("receipts: the last head could not be signed")

    def consistency(self, old_size: int, size: int | None = None) -> list[str]:
        """The consistency proof (hex) from the head of ``old_size`` to the latest head (or the
        log's first ``size`` entries); NotLogged when no such head can exist."""
        head = self.head
        new = size if size is not None else head.size if head is not None else 0
        if not 0 < old_size <= new <= len(self.log):
            raise NotLogged(f"no consistency proof from {old_size} to {new} entries: the "
                            f"shop's signed log has {head.size if head else 0}"
                            + (" (a head larger than the log: history was rolled back)"
                               if head is not None and old_size > head.size else ""))
        return [p.hex() for p in self.log.consistency_proof(old_size, new)]

    async def receipt(self, order_no: str, since: Iterable[int] = ()) -> dict[str, Any]:
        """The buyer's receipt of ``order_no`` (version 1, ``contract/receipt.py``)."""
        head = self.head
        if head is None:
            raise NotLogged("no head signed yet; try again in a second")
        since = list(since)
        consistency = [{"from_size": s, "proof": self.consistency(s, head.size)}
                       for s in since]
        entries = await self.db.run(lambda c: store.order_entries(c, order_no))
        logged = [(i, e) for i, e in entries if i is not None and i < head.size]
        if not logged:
            raise NotLogged("the order's events are not in a signed head yet; try again in "
                            "a second")
        return {
            "version": RECEIPT_VERSION, "order_no": order_no, "public_key": self.public_key,
            "tree_head": head.as_dict(),
            "events": [milestone(e) for _, e in logged],
            "proofs": [{"index": i, "path": [p.hex() for p in self.log.inclusion_proof(
                i, head.size)]} for i, _ in logged],
            "pending": [milestone(e) for i, e in entries if i is None or i >= head.size],
            "consistency": consistency,
        }


@dataclass(frozen=True)
class StoredLog:
    """The receipt log as a database holds it, for the audit."""

    entries: Sequence[tuple[int, str, EventRow | None]]  # idx, leaf (hex), the event now
    heads: Sequence[TreeHead]
    public_key: str | None
    recorded: Sequence[TreeHead] = field(default_factory=tuple)  # heads the drill kept


def stored_log(c: Cursor, recorded: Sequence[TreeHead] = ()) -> StoredLog:
    """The log as stored (a read-only unit), with the heads the drill recorded."""
    pem = store.signing_key(c)
    public = public_key_hex(_from_pem(pem, "the database's receipt key")) if pem else None
    return StoredLog(store.logged_events(c), store.heads(c), public, tuple(recorded))


def parse_heads(text: str) -> list[TreeHead]:
    """Heads from a JSON document or JSON Lines: each a head, or an object with a
    ``tree_head`` (a receipt, ``GET /api/receipts/head``, a line of receipt_heads.jsonl);
    ReceiptError (one line) otherwise."""
    try:
        docs = [json.loads(text)]
    except ValueError:
        try:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise ReceiptError(f"not JSON or JSON Lines ({exc})") from None
    return [TreeHead.of(d.get("tree_head", d) if isinstance(d, dict) else d) for d in docs]


def audit_log(stored: StoredLog) -> list[dict[str, Any]]:
    """What breaks the log: an event edited or deleted after it was logged, a gap, or a head
    (signed by the shop, or recorded by the drill) that the log no longer produces."""
    rows: list[dict[str, Any]] = []
    tree = MerkleLog()
    for position, (idx, leaf, event) in enumerate(stored.entries):
        if idx != position:
            rows.append({"idx": position, "problem": f"log entry missing (found {idx})"})
            break
        tree.append(bytes.fromhex(leaf))
        if event is None:
            rows.append({"idx": idx, "problem": "its event was deleted after it was logged"})
        elif event_leaf(milestone(event)).hex() != leaf:
            rows.append({"idx": idx, "order_no": event.order_no, "seq": event.seq,
                         "problem": "its event was edited after it was logged"})
    for who, heads in (("signed", stored.heads), ("recorded by the drill", stored.recorded)):
        for head in heads:
            rows += _head_problems(head, who, tree, stored.public_key)
    return rows


def _head_problems(head: TreeHead, who: str, tree: MerkleLog, public_key: str | None
                   ) -> list[dict[str, Any]]:
    where = {"head_size": head.size, "head_at": head.at}
    if public_key is not None:
        try:
            verify_head(head, public_key)
        except ReceiptError as exc:
            return [{**where, "problem": f"head {who}: {exc}"}]
    if head.size > len(tree) or tree.root(head.size).hex() != head.root:
        return [{**where, "problem": f"head {who} at {head.at}: the log no longer produces "
                 f"it (history rewritten or rolled back)"}]
    return []

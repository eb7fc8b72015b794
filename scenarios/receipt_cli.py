"""`fakalab receipt verify RECEIPT.json [--key KEY] [--previous HEAD.json …]`: check a buyer's
receipt offline (``contract/receipt.py``, docs/receipts.md).

Exit 0: it verifies (each thing it proves on a line); 1: it does not (one line saying what
fails: a forged or edited event, a head not signed by the shop's key, a rewritten history);
2: a file cannot be read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from fakalab.contract.receipt import ReceiptError, TreeHead, verify_receipt
from fakalab.reference_shop.receipts import parse_heads

__all__ = ["FileProblem", "read_heads", "read_key", "receipt", "verify_file"]


class FileProblem(Exception):
    """A file that cannot be read as what it should be (one line)."""


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(f"{path}: cannot read it ({exc})") from None
    except ValueError as exc:
        raise FileProblem(f"{path}: not JSON ({exc})") from None


def read_key(value: str) -> str:
    """The shop's public key (hex) from ``value``: hex itself, or a file holding hex, a PEM
    public key, or the JSON of ``GET /api/receipts/key`` (or ``/head``)."""
    path = Path(value)
    if not path.is_file():
        return value.strip()
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(f"{path}: cannot read it ({exc})") from None
    if text.startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(text.encode())
        except ValueError as exc:
            raise FileProblem(f"{path}: not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise FileProblem(f"{path}: not an Ed25519 public key")
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    if text.startswith("{"):
        found = _json(path)
        if not isinstance(found, dict) or not isinstance(found.get("public_key"), str):
            raise FileProblem(f"{path}: no public_key in it")
        return str(found["public_key"])
    return text


def read_heads(path: Path) -> list[TreeHead]:
    """Heads the buyer (or the drill) kept: a head, anything with a ``tree_head`` (a receipt,
    ``GET /api/receipts/head``), or JSON Lines of those (``receipt_heads.jsonl``)."""
    try:
        return parse_heads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(f"{path}: cannot read it ({exc})") from None
    except ReceiptError as exc:
        raise FileProblem(f"{path}: {exc}") from None


def _consistency(receipt: dict[str, Any], head: TreeHead, size: int) -> list[bytes]:
    if head.size == size:
        return []
    if head.size > size:
        raise ReceiptError(f"an earlier head has {head.size} entries, this receipt's log only "
                           f"{size}: the history was rolled back (or the receipt is older)")
    found = [c for c in receipt.get("consistency") or [] if isinstance(c, dict)
             and c.get("from_size") == head.size]
    if not found:
        raise ReceiptError(f"the receipt holds no consistency proof from the head of "
                           f"{head.size} entries: fetch it again with ?since={head.size}")
    try:
        return [bytes.fromhex(str(p)) for p in found[0].get("proof", [])]
    except ValueError:
        raise ReceiptError("consistency proof: not hex") from None


def verify_file(receipt_path: Path, key: str | None, previous: Sequence[Path] = ()
                ) -> list[str]:
    """What the receipt proves, one line each; ReceiptError (one line) when it does not."""
    receipt = _json(receipt_path)
    if not isinstance(receipt, dict):
        raise ReceiptError("the receipt is not a JSON object")
    notes = []
    if key is None:
        key = str(receipt.get("public_key", ""))
        notes.append(f"key {key[:16]}… taken from the receipt itself: give --key (the shop's "
                     f"published key) to know the shop signed it")
    else:
        key = read_key(key)
    size = TreeHead.of(receipt.get("tree_head")).size
    earlier = [(h, _consistency(receipt, h, size)) for p in previous for h in read_heads(p)]
    try:
        proved = verify_receipt(receipt, key, earlier)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReceiptError(f"malformed receipt ({type(exc).__name__}: {exc})") from None
    pending = receipt.get("pending") or []
    if pending:
        notes.append(f"{len(pending)} later event(s) not yet in a signed head: not proven")
    return [*proved, *notes]


@click.group()
def receipt() -> None:
    """Verifiable receipts of an order's milestones (docs/receipts.md)."""


@receipt.command()
@click.argument("receipt_file", type=click.Path(path_type=Path))
@click.option("--key", default=None, help="The shop's public key: hex, or a file (hex, PEM, "
              "or the JSON of GET /api/receipts/key). Default: the key inside the receipt "
              "(which proves nothing about who signed it).")
@click.option("--previous", type=click.Path(path_type=Path), multiple=True,
              help="A signed head kept earlier (a head, an earlier receipt, GET "
              "/api/receipts/head, or the drill's receipt_heads.jsonl): the receipt's log must "
              "extend it. Repeatable.")
def verify(receipt_file: Path, key: str | None, previous: tuple[Path, ...]) -> None:
    """Check RECEIPT_FILE offline: every event in the signed log, the head signed by the
    shop, and the log extending every earlier head. Exit 0: verified; 1: it fails (one line
    says what); 2: a file cannot be read."""
    try:
        lines = verify_file(receipt_file, key, previous)
    except FileProblem as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ReceiptError as exc:
        click.echo(f"FAIL {receipt_file}: {exc}")
        sys.exit(1)
    for line in lines:
        click.echo(f"ok   {line}")

"""`fakalab receipt verify`: one line for what fails, exit 1; exit 2 for a file it cannot read;
the key and earlier heads in every shape a buyer may hold them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fakalab.contract.merkle import MerkleLog
from fakalab.contract.receipt import event_leaf, public_key_hex, sign_head
from fakalab.scenarios.receipt_cli import receipt

KEY = Ed25519PrivateKey.generate()


def _log(n: int) -> tuple[list[dict[str, Any]], MerkleLog]:
    events = [{"order_no": f"O{i // 2}", "seq": i % 2 + 1, "at": 1.5 + i, "state": "paid",
               "message": "m", "eta_at": None, "visible": True} for i in range(n)]
    return events, MerkleLog([event_leaf(e) for e in events])


def _receipt(n: int, since: list[int] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    events, log = _log(n)
    head = sign_head(KEY, n, log.root(), 100.0 + n)
    return {"version": 1, "order_no": "O0", "public_key": public_key_hex(KEY),
            "tree_head": head.as_dict(), "events": events[:2],
            "proofs": [{"index": i, "path": [p.hex() for p in log.inclusion_proof(i)]}
                       for i in range(2)], "pending": [],
            "consistency": [{"from_size": s, "proof": [p.hex() for p in
                                                       log.consistency_proof(s)]}
                            for s in since]}


def run(tmp_path: Path, doc: Any, *args: str) -> tuple[int, str]:
    path = tmp_path / "receipt.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    result = CliRunner().invoke(receipt, ["verify", str(path), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


def test_a_receipt_verifies_with_the_key_in_any_shape(tmp_path: Path) -> None:
    hex_key = public_key_hex(KEY)
    pem = tmp_path / "key.pem"
    pem.write_bytes(KEY.public_key().public_bytes(Encoding.PEM,
                                                  PublicFormat.SubjectPublicKeyInfo))
    as_json = tmp_path / "key.json"
    as_json.write_text(json.dumps({"algorithm": "Ed25519", "public_key": hex_key}))
    for key in (hex_key, str(pem), str(as_json)):
        code, out = run(tmp_path, _receipt(6), "--key", key)
        assert code == 0 and out.startswith("ok   order O0: 2 events, last paid"), out


def test_without_a_key_it_says_what_is_not_proven(tmp_path: Path) -> None:
    code, out = run(tmp_path, _receipt(4))
    assert code == 0 and "taken from the receipt itself" in out


def test_an_earlier_head_must_be_extended(tmp_path: Path) -> None:
    early = tmp_path / "early.json"
    early.write_text(json.dumps(_receipt(3)))
    code, out = run(tmp_path, _receipt(7, since=[3]), "--previous", str(early))
    assert code == 0 and "extends the log of 3 entries" in out
    code, out = run(tmp_path, _receipt(7), "--previous", str(early))
    assert code == 1 and "fetch it again with ?since=3" in out
    later = tmp_path / "later.jsonl"  # receipt_heads.jsonl: the drill's record
    later.write_text("\n".join(json.dumps({"tree_head": _receipt(n)["tree_head"]})
                               for n in (3, 9)) + "\n")
    code, out = run(tmp_path, _receipt(7, since=[3]), "--previous", str(later))
    assert code == 1 and "rolled back" in out


@pytest.mark.parametrize(("doc", "says"), [
    ([1, 2], "not a JSON object"),
    ({"version": 1, "tree_head": {"size": 1}}, "tree head"),
    ({**_receipt(4), "events": [1, 2]}, "not all of one order"),
    ({**_receipt(4), "events": [{"order_no": "O0"}, 5]}, "malformed receipt"),
    ({**_receipt(4), "proofs": [{"index": 0, "path": ["zz"]}] * 2}, "not hex"),
])
def test_a_broken_receipt_fails_in_one_line(tmp_path: Path, doc: Any, says: str) -> None:
    code, out = run(tmp_path, doc, "--key", public_key_hex(KEY))
    assert code == 1 and out.count("\n") == 1 and says in out, out


def test_an_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    code, out = run(tmp_path, "{not json")
    assert code == 2 and "not JSON" in out
    result = CliRunner().invoke(receipt, ["verify", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "cannot read it" in result.output

"""HMAC-SHA256 signatures for payment-provider messages (pure).

The canonical string is the message's fields, except ``sign``, sorted by key and joined as
``key=value`` with ``&``; values are rendered with ``str`` (amounts are decimal strings such
as ``"12.00"``). The signature is the lowercase hex HMAC-SHA256 of that string under the
channel secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical", "sign", "verify"]


def canonical(fields: Mapping[str, Any]) -> str:
    """The string that is signed: every field but ``sign``, sorted by key."""
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "sign")


def sign(fields: Mapping[str, Any], secret: str) -> str:
    """Hex HMAC-SHA256 of ``canonical(fields)`` under ``secret``."""
    return hmac.new(secret.encode(), canonical(fields).encode(), hashlib.sha256).hexdigest()


def verify(fields: Mapping[str, Any], secret: str) -> bool:
    """True when ``fields["sign"]`` is the right signature (constant-time comparison)."""
    given = fields.get("sign")
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), sign(fields, secret).encode())

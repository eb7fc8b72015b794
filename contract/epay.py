"""The 易支付 (epay) payment protocol, as most 发卡 shops speak it (pure).

A merchant has a `pid` and a secret `key`. The shop sends the buyer (or POSTs server-side) to
`submit.php` — or `mapi.php`, which answers JSON — with `pid, type, out_trade_no, notify_url,
return_url, name, money, sign, sign_type=MD5`. After payment the gateway calls `notify_url` with
a GET carrying `pid, trade_no, out_trade_no, type, name, money, trade_status=TRADE_SUCCESS, sign,
sign_type` and repeats it until the shop answers the plain text `success`; the shop may ask
`api.php?act=order&pid=…&key=…&out_trade_no=…`.

`sign` is the lowercase hex MD5 of the parameters that are not empty and not `sign` or
`sign_type`, sorted by name and joined as `k=v&k=v`, with the key appended. The values are the
text as sent (not URL-encoded). Used by the gateway simulator, the reference shop's epay
channel, and the outside audit of a drilled shop.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "NOTIFY_FIELDS",
    "ORDER_FIELDS",
    "TRADE_SUCCESS",
    "money",
    "sign",
    "signed",
    "signing_string",
    "verify",
]

TRADE_SUCCESS = "TRADE_SUCCESS"
# What a shop sends to submit.php / mapi.php (besides sign and sign_type).
ORDER_FIELDS = ("pid", "type", "out_trade_no", "notify_url", "return_url", "name", "money")
# What the gateway sends to notify_url (besides sign and sign_type).
NOTIFY_FIELDS = ("pid", "trade_no", "out_trade_no", "type", "name", "money", "trade_status")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def signing_string(params: Mapping[str, Any]) -> str:
    """`k=v&k=v` over the non-empty parameters but sign and sign_type, sorted by name."""
    kept = {k: _text(v) for k, v in params.items()
            if k not in ("sign", "sign_type") and _text(v) != ""}
    return "&".join(f"{k}={kept[k]}" for k in sorted(kept))


def sign(params: Mapping[str, Any], key: str) -> str:
    """The lowercase hex MD5 of the signing string with the key appended."""
    return hashlib.md5((signing_string(params) + key).encode()).hexdigest()


def verify(params: Mapping[str, Any], key: str) -> bool:
    """Whether `params["sign"]` is the signature of `params` under `key` (constant time;
    upper-case hex is accepted, as gateways do)."""
    given = _text(params.get("sign")).lower()
    return bool(given) and hmac.compare_digest(given, sign(params, key))


def signed(params: Mapping[str, Any], key: str) -> dict[str, str]:
    """`params` as text, with `sign` and `sign_type=MD5`."""
    out = {k: _text(v) for k, v in params.items() if k not in ("sign", "sign_type")}
    return {**out, "sign": sign(out, key), "sign_type": "MD5"}


def money(value: Any) -> Decimal | None:
    """An epay amount as a Decimal (`"10"`, `"10.0"`, `"10.00"` and `10` all read as 10), or
    None when it is not a positive amount of at most two decimals."""
    try:
        amount = Decimal(_text(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        return None
    return amount

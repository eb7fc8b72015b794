"""Toxic models and their validation: the vocabulary of the Toxiproxy 2.x API, as plain values.

Nothing here does I/O. The HTTP API turns request bodies into `Toxic` values with `parse_toxic`
and `update_toxic`; the proxy reads them to decide what happens to each connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "STREAMS",
    "TOXIC_ATTRIBUTES",
    "ApiError",
    "Toxic",
    "parse_toxic",
    "update_toxic",
]

STREAMS = ("upstream", "downstream")

# Every toxic type with its integer attributes, in the order Toxiproxy prints them.
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
    "noop": (),
}


class ApiError(Exception):
    """An error the API answers with `{"error": message, "status": status}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def bad_body(reason: str) -> ApiError:
    return ApiError(400, f"bad request body: {reason}")


@dataclass(frozen=True)
class Toxic:
    """One toxic as the API shows it."""

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, int] = field(default_factory=dict)

    def attr(self, key: str) -> int:
        return int(self.attributes.get(key, 0))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_body(f"attribute {key!r} must be an integer, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise bad_body(f"attribute {key!r} must be an integer, got {value!r}")
    return int(value)


def _attributes(kind: str, given: Any, base: Mapping[str, int] | None = None) -> dict[str, int]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise bad_body("attributes must be an object")
    names = TOXIC_ATTRIBUTES[kind]
    merged = {name: (base or {}).get(name, 0) for name in names}
    for key, value in given.items():
        if key in merged:  # unknown attributes are ignored, as Go's JSON decoder does
            merged[key] = _integer(key, value)
    return merged


def _toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_body(f"toxicity must be a number, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise bad_body(f"toxicity must be between 0 and 1, got {value!r}")
    return float(value)


def parse_toxic(body: Any) -> Toxic:
    """Validate a `POST /proxies/{p}/toxics` body; raise ApiError as the real server would."""
    if not isinstance(body, dict):
        raise bad_body("expected a JSON object")
    kind = body.get("type")
    if kind not in TOXIC_ATTRIBUTES:
        raise ApiError(400, "invalid toxic type")
    stream = body.get("stream") or "downstream"
    if stream not in STREAMS:
        raise ApiError(400, "stream was invalid, can be either upstream or downstream")
    name = body.get("name") or f"{kind}_{stream}"
    if not isinstance(name, str):
        raise bad_body("name must be a string")
    toxicity = _toxicity(body["toxicity"]) if body.get("toxicity") is not None else 1.0
    return Toxic(name, kind, stream, toxicity, _attributes(kind, body.get("attributes")))


def update_toxic(toxic: Toxic, body: Any) -> Toxic:
    """Apply a `PATCH` body: attributes merge into the existing ones; name/type/stream stay."""
    if not isinstance(body, dict):
        raise bad_body("expected a JSON object")
    toxicity = toxic.toxicity
    if body.get("toxicity") is not None:
        toxicity = _toxicity(body["toxicity"])
    attributes = _attributes(toxic.type, body.get("attributes"), toxic.attributes)
    return replace(toxic, toxicity=toxicity, attributes=attributes)

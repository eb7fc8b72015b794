"""Names, ports and default URLs of the upstream services (no web framework imported here).

The shop imports this module for its defaults, so it must stay cheap to import.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT_BASE",
    "DEFAULT_SECRETS",
    "GATEWAYS",
    "OUTAGE_STATUSES",
    "PORTS",
    "SERVICES",
    "SERVICE_KINDS",
    "ServiceKind",
    "default_urls",
    "parse_only",
    "service_url",
]

DEFAULT_HOST = "127.0.0.1"
# The Statuspage component statuses the shop takes as a provider's word that it is down or
# partly down: failover steers new work away from it (degraded_performance alone does not).
OUTAGE_STATUSES = frozenset({"partial_outage", "major_outage"})
DEFAULT_PORT_BASE = 9100

# The reference shop's upstreams: service name -> offset from the port base, in the
# documented order.
SERVICES: dict[str, int] = {
    "payment-a": 1,
    "payment-b": 2,
    "supplier-a": 3,
    "supplier-b": 4,
    "risk": 5,
    "notify": 6,
}

# Gateways a drilled shop of any make may pay through (not an upstream of the reference shop
# unless it is told to use one): the 易支付 (epay) gateway.
GATEWAYS: dict[str, int] = {"epay": 7}
# Every service `fakalab upstreams` can run.
PORTS: dict[str, int] = {**SERVICES, **GATEWAYS}

ServiceKind = Literal["payment", "supplier", "risk", "notify", "epay"]

SERVICE_KINDS: dict[str, ServiceKind] = {
    "payment-a": "payment",
    "payment-b": "payment",
    "supplier-a": "supplier",
    "supplier-b": "supplier",
    "risk": "risk",
    "notify": "notify",
    "epay": "epay",
}

# Channel secrets when neither a flag nor FAKALAB_PAYMENT_SECRET_A/B is given.
DEFAULT_SECRETS: dict[str, str] = {"payment-a": "fakalab-secret-a", "payment-b": "fakalab-secret-b"}


def service_url(host: str, port: int) -> str:
    """``http://host:port``, with brackets around an IPv6 address."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def default_urls(port_base: int = DEFAULT_PORT_BASE, host: str = DEFAULT_HOST) -> dict[str, str]:
    """Base URL of every service for ``fakalab upstreams --port-base port_base``."""
    return {name: service_url(host, port_base + offset) for name, offset in SERVICES.items()}


def parse_only(value: str | None) -> list[str]:
    """Service names from a comma-separated ``--only`` value (the reference shop's upstreams when
    empty), in port order; gateways (``epay``) only when named.

    Raises ``ValueError`` naming an unknown service.
    """
    if not value or not value.strip():
        return list(SERVICES)
    wanted = {part.strip() for part in value.split(",") if part.strip()}
    unknown = sorted(wanted - PORTS.keys())
    if unknown:
        known = ", ".join(PORTS)
        raise ValueError(f"unknown service {', '.join(unknown)} (known: {known})")
    return [name for name in PORTS if name in wanted]

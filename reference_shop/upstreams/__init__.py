"""The reference shop's upstream services: payment channels, suppliers, risk control, notification.

Importing this package is cheap (no FastAPI): the shop reads ``SERVICES`` and ``default_urls`` for
its defaults. The apps live in ``payment``, ``supplier``, ``risk`` and ``notifier``; ``runner``
serves them; ``cli`` is the ``fakalab upstreams`` command. The HTTP contract is docs/upstreams.md.
"""

from __future__ import annotations

from fakalab.reference_shop.upstreams.registry import (
    DEFAULT_HOST,
    DEFAULT_PORT_BASE,
    DEFAULT_SECRETS,
    SERVICE_KINDS,
    SERVICES,
    default_urls,
    service_url,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT_BASE",
    "DEFAULT_SECRETS",
    "SERVICES",
    "SERVICE_KINDS",
    "default_urls",
    "service_url",
]

import subprocess
import sys

import pytest

from fakalab.reference_shop import upstreams
from fakalab.reference_shop.upstreams.registry import SERVICES, default_urls, parse_only


def test_services_follow_the_documented_port_order() -> None:
    assert SERVICES == {
        "payment-a": 1,
        "payment-b": 2,
        "supplier-a": 3,
        "supplier-b": 4,
        "risk": 5,
        "notify": 6,
    }


def test_default_urls() -> None:
    assert default_urls()["payment-a"] == "http://127.0.0.1:9101"
    assert default_urls(9200, "localhost")["notify"] == "http://localhost:9206"
    assert default_urls(9100, "::1")["risk"] == "http://[::1]:9105"


def test_package_reexports_registry() -> None:
    assert upstreams.SERVICES is SERVICES
    assert upstreams.default_urls is default_urls


def test_parse_only() -> None:
    assert parse_only(None) == list(SERVICES)
    assert parse_only("risk, payment-a") == ["payment-a", "risk"]
    with pytest.raises(ValueError, match="unknown service nope"):
        parse_only("risk,nope")


def test_importing_the_package_does_not_import_fastapi() -> None:
    code = "import sys, reference_shop.upstreams; print('fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

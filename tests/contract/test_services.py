import subprocess
import sys
from pathlib import Path

import pytest

from fakalab.contract.services import SERVICES, default_urls, parse_only


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


def test_parse_only() -> None:
    assert parse_only(None) == list(SERVICES)
    assert parse_only("risk, payment-a") == ["payment-a", "risk"]
    with pytest.raises(ValueError, match="unknown service nope"):
        parse_only("risk,nope")


def test_the_names_and_the_shop_settings_are_cheap_to_import(tmp_path: Path) -> None:
    code = ("import sys, fakalab.contract.services, fakalab.contract.shop_settings; "
            "print('fastapi' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    assert out.stdout.strip() == "False"

"""A target's Python plugin, found through the entry point group fakalab.targets: installed
here as a tiny distribution in tmp_path, the way `pip install` would leave one."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import httpx
import pytest

from fakalab.contract.profile import parse_profile
from fakalab.contract.target import TargetError, load_target
from fakalab.scenarios.profile_client import HttpxHttp, ProfileClient
from fakalab.scenarios.target_plugin import PluginError, load_plugin

PLUGIN = '''
from fakalab.scenarios.profile_client import SentRequest, StepResult


class Plugin:
    """A shop whose order form needs a CSRF token fetched first, and whose keys come as one
    text with | between them."""

    def run_step(self, name, client, context):
        if name != "create_order":
            return None
        token = client.http.send(SentRequest("GET", client.base_url + "csrf", {}, {}), "csrf")
        sent = SentRequest("POST", client.base_url + "order", {"X-CSRF": token.text}, {},
                           {"sku": context["product"]})
        answer = client.http.send(sent, "create_order")
        data = answer.text.split(",")
        return StepResult(name, sent, answer, {"order_id": data[0], "pay_url": data[1]},
                          answer.status == 200)

    def keys(self, value):
        return [k for k in str(value or "").split("|") if k]
'''


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    dist = tmp_path / "csrf_shop-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: csrf-shop\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[fakalab.targets]\ncsrf = csrf_shop_plugin:Plugin\n")
    (tmp_path / "csrf_shop_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield "csrf"
    sys.modules.pop("csrf_shop_plugin", None)


def shop(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/csrf":
        return httpx.Response(200, text="tok-1")
    if request.url.path == "/order":
        assert request.headers["X-CSRF"] == "tok-1"
        return httpx.Response(200, text="O7,http://gw/pay/T7")
    return httpx.Response(200, json={"state": "done", "keys": "K-1|K-2"})


PROFILE = parse_profile({
    "name": "csrf-shop",
    "create_order": {"request": {"method": "POST", "path": "/order"},
                     "extract": {"order_id": "id", "pay_url": "pay"}},
    "status": {"request": {"path": "/o/{order_id}"}, "extract": {"state": "state",
                                                                 "keys": "keys"}}}, {}, "p")


def test_the_plugin_runs_what_the_profile_cannot_say(installed: str) -> None:
    plugin = load_plugin(installed)
    with httpx.Client(transport=httpx.MockTransport(shop)) as http:
        client = ProfileClient(PROFILE, HttpxHttp(http), "http://shop.test", plugin)
        context = {"product": "p1"}
        created = client.run("create_order", context)
        assert created.ok and context["order_id"] == "O7"
        status = client.run("status", context)  # the plugin leaves this one to the profile
        assert client.keys(status.extracted["keys"]) == ["K-1", "K-2"]


def test_a_target_names_its_plugin_and_a_missing_one_is_one_line(installed: str,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nurl: http://127.0.0.1:1\nprofile: reference\nplugin: csrf\n")
    assert load_target(path).plugin == "csrf"
    path.write_text("name: t\nurl: http://127.0.0.1:1\nprofile: reference\nplugin: nope\n")
    with pytest.raises(TargetError) as caught:
        load_target(path)
    assert caught.value.problems == [
        f"{path}:4: plugin: no entry point 'nope' in group fakalab.targets (installed: csrf)"]
    with pytest.raises(PluginError, match="no entry point 'nope'"):
        load_plugin("nope")

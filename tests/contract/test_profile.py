"""Buyer protocol profiles: validation with file:line errors, the built-in reference profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakalab.contract.profile import ProfileError, load_profile

MINIMAL = """\
name: tiny
create_order:
  request: {method: POST, path: /order, form: {sku: "{product}"}}
  extract: {order_id: id, pay_url: {regex: "href='([^']+)'"}}
status:
  request: {path: "/order/{order_id}"}
  extract: {state: status}
states: {"0": pending_payment, "1": paid, "3": delivered}
"""


def test_the_reference_profile_loads() -> None:
    profile = load_profile("reference")
    assert profile.name == "reference" and profile.i_have_paid is not None
    assert profile.stage("completed") == "delivered" and profile.stage("risk_check") == "risk_check"


def test_a_minimal_profile_and_unmapped_states_kept_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(MINIMAL)
    profile = load_profile(path)
    assert profile.stage("3") == "delivered"
    assert profile.stage("7") == "7"  # not mapped: kept, never dropped
    assert profile.create_order.extract["pay_url"].regex == "href='([^']+)'"


@pytest.mark.parametrize(("change", "expected"), [
    (("extract: {order_id: id,", "extract: {id: id,"), "create_order must extract order_id"),
    (("extract: {state: status}", "extract: {s: status}"), "status must extract state"),
    (('"/order/{order_id}"', '"/order/{order_number}"'), "{order_number} is not known"),
    (("1\": paid", "1\": shipped"), "not fakalab stages: shipped"),
    (("extract: {state: status}", "extract: {state: 'status[('}"), "not a JMESPath expression"),
    (("regex: \"href='([^']+)'\"", "regex: \"href='[^']+'\""), "has 0 group(s)"),
    (("method: POST", "method: BREW"), "tiny.yaml:3: create_order.request.method"),
    (("name: tiny", "name: tiny\ncolour: red"), "tiny.yaml:2: colour: Extra inputs"),
])
def test_a_bad_profile_names_line_and_field(tmp_path: Path, change: tuple[str, str],
                                            expected: str) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(MINIMAL.replace(*change))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert expected in str(caught.value)


def test_no_such_profile() -> None:
    with pytest.raises(ProfileError, match=r"no such profile file or built-in .*reference"):
        load_profile("no-such")

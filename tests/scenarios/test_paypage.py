"""From a shop's payment page to the gateway's cashier: each kind of hop, and the bounds."""

from __future__ import annotations

import pytest

from fakalab.scenarios.paypage import Hop, next_hop, to_cashier
from fakalab.scenarios.profile_client import Answer, SentRequest

PAGE = "http://shop.test/pay/7"
FORM = """<html><body><form id="f" method="post" action="http://gw.test/submit.php">
<input type="hidden" name="pid" value="1000"><input type="hidden" name="name" value="a &amp; b">
<input type="submit" value="Pay"></form><script>document.getElementById('f').submit()</script>
</body></html>"""


@pytest.mark.parametrize(("answer", "hop"), [
    (Answer(302, "", {"Location": "/go?x=1"}), Hop("GET", "http://shop.test/go?x=1")),
    (Answer(200, "<script>window.location.href='http://gw.test/pay/T1';</script>"),
     Hop("GET", "http://gw.test/pay/T1")),
    (Answer(200, '<script>location.replace("../cashier/T2")</script>'),
     Hop("GET", "http://shop.test/cashier/T2")),
    (Answer(200, '<meta http-equiv="refresh" content="0;url=http://gw.test/pay/T3">'),
     Hop("GET", "http://gw.test/pay/T3")),
    (Answer(200, FORM), Hop("POST", "http://gw.test/submit.php",
                            {"pid": "1000", "name": "a & b"})),
    (Answer(200, "<html><body>Thank you</body></html>"), None),
])
def test_next_hop(answer: Answer, hop: Hop | None) -> None:
    found = next_hop(PAGE, answer)
    assert (None if found is None else (found.method, found.url, found.form)) == (
        None if hop is None else (hop.method, hop.url, hop.form))


class Pages:
    """A shop's pay page → the gateway's submit.php → its redirect page → the cashier."""

    def __init__(self, pages: dict[str, Answer]) -> None:
        self.pages = pages
        self.sent: list[SentRequest] = []

    def send(self, request: SentRequest, name: str) -> Answer:
        self.sent.append(request)
        return self.pages.get(request.url, Answer(404, "not found"))


def test_to_cashier_follows_a_form_and_a_script_and_stops_before_paying() -> None:
    http = Pages({PAGE: Answer(200, FORM), "http://gw.test/submit.php": Answer(
        200, "<script>window.location.href='http://gw.test/pay/T9';</script>")})
    journey = to_cashier(http, PAGE, lambda url: url.startswith("http://gw.test/pay/"))
    assert journey.cashier == "http://gw.test/pay/T9" and journey.problem == ""
    assert [(r.method, r.url) for r in http.sent] == [("GET", PAGE),
                                                      ("POST", "http://gw.test/submit.php")]
    assert http.sent[1].form == {"pid": "1000", "name": "a & b"}


def test_a_dead_end_or_a_loop_is_a_problem_not_a_hang() -> None:
    dead = to_cashier(Pages({}), PAGE, lambda url: False)
    assert dead.cashier is None and "HTTP 404" in dead.problem and "nowhere" in dead.problem
    loop = Pages({PAGE: Answer(302, "", {"Location": PAGE})})
    looped = to_cashier(loop, PAGE, lambda url: False, max_hops=4)
    assert looped.cashier is None and len(loop.sent) == 4
    assert looped.problem.startswith("no cashier after 4 hops")
    assert to_cashier(Pages({}), "http://gw.test/pay/T1",
                      lambda url: "/pay/" in url).cashier == "http://gw.test/pay/T1"

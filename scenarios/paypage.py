"""From a shop's "go pay" page to the gateway's cashier, as a browser gets there.

Shops hand the buyer a payment URL that is rarely the cashier itself: an HTTP redirect, a page
whose script sets `window.location.href='…'` (the common 易支付 submit.php page), a
`<meta http-equiv="refresh">`, or a form that submits itself to the gateway. `next_hop` reads one
answer (pure); `to_cashier` follows hops over the profile client's `Http` until a URL the
caller recognises as the cashier, at most `max_hops` of them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

from fakalab.scenarios.profile_client import Answer, Http, SentRequest

__all__ = ["MAX_HOPS", "Hop", "Journey", "next_hop", "to_cashier"]

MAX_HOPS = 6
_SCRIPT = (re.compile(r"""(?:window\.|document\.|top\.|self\.)?location(?:\.href)?\s*=\s*
                          (['"])(?P<url>[^'"]+)\1""", re.X),
           re.compile(r"""location\.(?:replace|assign)\(\s*(['"])(?P<url>[^'"]+)\1""", re.X))
_META = re.compile(r"""<meta[^>]+http-equiv=["']?refresh["']?[^>]*content=["']?\s*\d*\s*;?\s*
                       url=(?P<url>[^"'>\s]+)""", re.X | re.I)


@dataclass(frozen=True)
class Hop:
    method: str
    url: str
    form: dict[str, str] | None = None
    how: str = ""  # what sent the browser on


class _FirstForm(HTMLParser):
    """The first <form>'s action, method and named inputs (hidden ones included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: str | None = None
        self.method = "GET"
        self.fields: dict[str, str] = {}
        self._inside = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form" and not self._done and self.action is None:
            self.action, self._inside = found.get("action", ""), True
            self.method = found.get("method", "GET").upper() or "GET"
        elif tag in ("input", "textarea", "select") and self._inside and found.get("name") \
                and found.get("type", "").lower() not in ("submit", "button", "image", "reset"):
            self.fields[found["name"]] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._inside:
            self._inside, self._done = False, True


def next_hop(url: str, answer: Answer) -> Hop | None:
    """Where this answer sends a browser next (None: nowhere — a page to stop on)."""
    headers = {k.lower(): v for k, v in answer.headers.items()}
    if 300 <= answer.status < 400 and headers.get("location"):
        return Hop("GET", urljoin(url, headers["location"]), None,
                   f"HTTP {answer.status} Location")
    text = answer.text or ""
    for pattern in _SCRIPT:
        found = pattern.search(text)
        if found:
            return Hop("GET", urljoin(url, html.unescape(found.group("url"))), None,
                       "script location")
    meta = _META.search(text)
    if meta:
        return Hop("GET", urljoin(url, html.unescape(meta.group("url"))), None, "meta refresh")
    if "<form" in text.lower():
        form = _FirstForm()
        form.feed(text)
        if form.action is not None:
            method = "POST" if form.method == "POST" else "GET"
            return Hop(method, urljoin(url, form.action or url), form.fields, f"{method} form")
    return None


@dataclass
class Journey:
    """The requests made on the way and the answers, for `fakalab target check`."""

    steps: list[tuple[SentRequest, Answer, Hop | None]] = field(default_factory=list)
    cashier: str | None = None
    problem: str = ""


def to_cashier(http: Http, url: str, is_cashier: Callable[[str], bool],
               max_hops: int = MAX_HOPS, name: str = "pay_page") -> Journey:
    """Follow `url` until a URL `is_cashier` accepts (not requested: paying there is the
    caller's to do), or until no hop is left (`problem` says why)."""
    journey = Journey()
    hop = Hop("GET", url, None, "the payment URL")
    for _ in range(max_hops + 1):
        if is_cashier(hop.url):
            journey.cashier = hop.url
            return journey
        if len(journey.steps) >= max_hops:
            break
        sent = SentRequest(hop.method, hop.url, {}, {}, None,
                           hop.form if hop.method == "POST" else None)
        if hop.method == "GET" and hop.form:
            sent = SentRequest("GET", hop.url, {}, dict(hop.form))
        answer = http.send(sent, name)
        following = next_hop(hop.url, answer) if answer.status else None
        journey.steps.append((sent, answer, following))
        if following is None:
            journey.problem = (f"{hop.url}: HTTP {answer.status}, and the page sends the buyer "
                               f"nowhere (no redirect, script location, refresh or form)"
                               if answer.status else f"{hop.url}: {answer.text[:200]}")
            return journey
        hop = following
    journey.problem = f"no cashier after {max_hops} hops (last: {hop.url})"
    return journey

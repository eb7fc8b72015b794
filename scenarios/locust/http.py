"""The profile client's `Http` over Locust's FastHttpSession (counted in Locust's stats).

An answer that is one by design is counted as a success under its own name, not as an error:
a busy shop's refusal (503 or 429 with Retry-After: `… (busy)`), and a shop that has no
receipts or has not signed the order's events yet (404 or 409 to a receipt step). With
`spans`, each request of a sampled journey is a CLIENT span of the buyer (`spans.BuyerSpans`),
and its `traceparent` names that span.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from locust.contrib.fasthttp import FastHttpSession

from fakalab.scenarios.locust.busy import retry_after
from fakalab.scenarios.locust.spans import BuyerSpans
from fakalab.scenarios.profile_client import Answer, SentRequest

__all__ = ["BY_DESIGN", "LocustHttp"]

# step -> the statuses that answer it by design (docs/receipts.md)
BY_DESIGN = {"receipt_key": (404,), "receipt": (404, 409)}


class LocustHttp:
    def __init__(self, session: FastHttpSession, spans: BuyerSpans | None = None) -> None:
        self.session = session
        self.spans = spans  # a CLIENT span per request of a sampled journey

    def send(self, request: SentRequest, name: str) -> Answer:
        headers = request.headers
        span = None if self.spans is None else self.spans.child(headers.get("traceparent"))
        if span is not None:
            headers = {**headers, "traceparent": span[0]}
        started_ns = time.time_ns()
        answer = self._send(request, name, headers)
        if span is not None and self.spans is not None:
            self.spans.client(span, name, started_ns, answer.status)
        return answer

    def _send(self, request: SentRequest, name: str, headers: dict[str, str]) -> Answer:
        url = request.url + ("?" + urlencode(request.params) if request.params else "")
        started = time.perf_counter()
        with self.session.request(
                request.method, url, name=name, headers=headers or None,
                json=request.json_body, data=request.form, allow_redirects=False,
                catch_response=True) as response:
            if not response.status_code:  # no answer: Locust keeps the error on the response
                return Answer(0, str(getattr(response, "error", "") or "no answer"), {},
                              time.perf_counter() - started)
            headers = {str(k): str(v) for k, v in (response.headers or {}).items()}
            if retry_after(response.status_code, headers) is not None:
                # The shop said "busy, come back in N s": an answer by design, not an error.
                response.request_meta["name"] = f"{name} (busy)"
                response.success()
            elif response.status_code in BY_DESIGN.get(name.partition(" ")[0], ()):
                response.request_meta["name"] = f"{name} ({response.status_code})"
                response.success()
            return Answer(response.status_code, response.text or "", headers,
                          time.perf_counter() - started)

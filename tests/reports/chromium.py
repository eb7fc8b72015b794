"""Open a page in headless Chromium and collect what went wrong, over the DevTools protocol.

Collected: console messages of level error or warning, uncaught exceptions, log entries of level
error or warning (failed resource loads among them), and every request other than the page itself
(a self-contained report makes none).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]
TIMEOUT_S = 30.0


@dataclass
class PageReport:
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    images_ok: bool | None = None


def _port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if marker.is_file() and marker.read_text().strip():
            return int(marker.read_text().splitlines()[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        time.sleep(0.05)
    raise TimeoutError("chromium did not open its DevTools port")


def _page_socket(port: int) -> str:
    """The page target's DevTools URL; retried while Chromium is still starting up."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
                targets = json.load(answer)
            pages = [t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"]
            if pages:
                return str(pages[0])
        except OSError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError("chromium shows no page target")
        time.sleep(0.1)


class _Session:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=TIMEOUT_S))
            if message.get("id") == self.next_id:
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=deadline - time.monotonic())))

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return


def _problems(events: list[dict[str, Any]], page_url: str, report: PageReport) -> None:
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            args = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            report.problems.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            report.problems.append(f"exception: {details.get('exception', {}).get('description')}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            report.problems.append(f"log {params['entry']['level']}: {params['entry']['text']}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url != page_url and not url.startswith("data:"):
                report.requests.append(url)


def open_page(path: Path, attempts: int = 3) -> PageReport:
    """Load `path` in headless Chromium; report console errors, exceptions and requests.

    A browser that fails to start or to answer on its DevTools socket (OSError, on a loaded
    machine) is started again, up to `attempts` times; what the page does is never retried.
    """
    for attempt in range(1, attempts + 1):
        try:
            return _open_page(path)
        except OSError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _open_page(path: Path) -> PageReport:
    page_url = path.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with connect(_page_socket(_port(Path(profile), process)), max_size=None) as ws:
                session = _Session(ws)
                for domain in ("Runtime", "Log", "Network", "Page"):
                    session.call(f"{domain}.enable")
                session.call("Page.navigate", url=page_url)
                session.wait_for("Page.loadEventFired")
                session.drain(0.5)
                check = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
                result = session.call("Runtime.evaluate", expression=check, returnByValue=True)
                report = PageReport(images_ok=result.get("result", {}).get("value"))
                _problems(session.events, page_url, report)
                return report
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

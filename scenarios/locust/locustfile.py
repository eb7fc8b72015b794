"""The Locust entry: `python -m locust -f scenarios/locust/locustfile.py --headless -u N ...`.

One `Arrivals` user per generator process (`-u` = number of processes) runs the open-loop
dispatcher of the scenario given by `--fakalab-scenario`. A single process writes its records
to `--fakalab-records` (`polls-<pid>.csv`, `tickets-<pid>.csv`, `buyers-<pid>.csv`,
`arrivals-<pid>.json`), merged after the run.

In distributed mode (`--processes N`, or `--master` with workers from other hosts:
`fakalab generator --master HOST:PORT`) the master runs no user: it sends every worker the
scenario's text with the spawn message (Locust passes custom options on), and writes what the
workers send back (`records.RecordShipper` → `records.RecordReceiver`, files named
`<kind>-w<index>`; the buyers' spans, with `--fakalab-traces`, `buyers-<pid>.jsonl` or
`buyers-w<index>.jsonl` there). When the run ends the master asks each worker for its last
records and waits for them before it quits.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import gevent
from geventhttpclient.client import HTTPClientPool
from locust import User, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.runners import MasterRunner, WorkerRunner

from fakalab.contract.profile import load_profile
from fakalab.contract.scenario import Scenario, load_scenario, parse_scenario
from fakalab.scenarios.locust.dispatcher import Dispatcher
from fakalab.scenarios.locust.journeys import Journeys
from fakalab.scenarios.locust.records import (
    RecordReceiver,
    RecordShipper,
    RecordWriter,
    append_lines,
    write_json,
)
from fakalab.scenarios.locust.spans import BuyerSpans
from fakalab.scenarios.target_plugin import load_plugin
from fakalab.scenarios.trace_sampler import TraceSampler

RECORDS, STOP, DONE = "fakalab_records", "fakalab_stop", "fakalab_done"
COLLECT_TIMEOUT_S = 15.0  # how long the master waits for the workers' last records

_running: list[tuple[Dispatcher, RecordWriter | RecordShipper, BuyerSpans | None]] = []
_master: dict[str, Any] = {}  # the master's receiver and the workers that have sent DONE
_finished: list[bool] = []  # a worker that has sent DONE sends nothing more


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--fakalab-scenario", env_var="FAKALAB_SCENARIO", default="steady",
                        help="scenario name or resolved scenario file")
    parser.add_argument("--fakalab-records", env_var="FAKALAB_RECORDS", default="fakalab-records",
                        help="directory for polls-/tickets-/arrivals-<pid> files")
    parser.add_argument("--fakalab-processes", env_var="FAKALAB_PROCESSES", type=int, default=1,
                        help="generator processes sharing the arrival rate")
    parser.add_argument("--fakalab-profile", env_var="FAKALAB_PROFILE", default="reference",
                        help="the shop's buyer protocol profile (a built-in name or a file)")
    parser.add_argument("--fakalab-cashier", env_var="FAKALAB_CASHIER", default="",
                        help="prefix of the gateway's cashier URLs: buyers follow the shop's "
                        "payment page there and pay (empty: the payment URL is the cashier)")
    parser.add_argument("--fakalab-trace-sample", env_var="FAKALAB_TRACE_SAMPLE", default="",
                        help="send a W3C traceparent with every request of a journey (one "
                        "trace per order), sampled at this share (empty: none)")
    parser.add_argument("--fakalab-trace-rate", env_var="FAKALAB_TRACE_RATE", type=float,
                        default=0.0, help="at most this many sampled journeys a second across "
                        "the generator processes (0: no cap; scenarios/trace_sampler.py)")
    parser.add_argument("--fakalab-traces", env_var="FAKALAB_TRACES", default="",
                        help="directory for the buyers' own spans, buyers-<pid>.jsonl (empty: "
                        "none; only with --fakalab-trace-sample)")
    parser.add_argument("--fakalab-plugin", env_var="FAKALAB_PLUGIN", default="",
                        help="a target plugin (entry point of group fakalab.targets)")


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        options = environment.parsed_options
        # custom options reach the workers with the spawn message: the scenario as text, so a
        # worker on another host needs no copy of the run directory
        options.fakalab_scenario_text = Path(options.fakalab_scenario).read_text() \
            if Path(options.fakalab_scenario).is_file() else ""
        receiver = RecordReceiver(Path(options.fakalab_records),
                                  Path(options.fakalab_traces) if options.fakalab_traces
                                  else None)
        _master.update(receiver=receiver, done=set())
        runner.register_message(RECORDS, lambda msg, **_: receiver.receive(
            f"w{runner.get_worker_index(msg.node_id)}", msg.data))
        runner.register_message(DONE, lambda msg, **_: _master["done"].add(msg.node_id))
    elif isinstance(runner, WorkerRunner):
        runner.register_message(STOP, lambda **_: _finish(runner), concurrent=True)


def _scenario(options: Any) -> Scenario:
    text = getattr(options, "fakalab_scenario_text", "")
    return parse_scenario(text, "<from the master>") if text \
        else load_scenario(options.fakalab_scenario)


class Arrivals(User):
    """Not a buyer: the dispatcher of one generator process."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.done = False

    @task
    def dispatch(self) -> None:
        if self.done:
            gevent.sleep(3600)
            return
        self.done = True
        options = self.environment.parsed_options
        scenario = _scenario(options)
        runner = self.environment.runner
        writer, publish, index = self._sink(runner, Path(options.fakalab_records))
        spans = _spans(writer, options)
        session = FastHttpSession(
            self.host, self.environment.events.request, None,
            client_pool=HTTPClientPool(concurrency=scenario.load.max_journeys),
            connection_timeout=5.0, network_timeout=60.0)
        journeys = Journeys(session, scenario.load.buyers, writer,  # type: ignore[arg-type]
                            load_profile(options.fakalab_profile), self.host or "",
                            options.fakalab_cashier or None,
                            load_plugin(options.fakalab_plugin or None),
                            _sampler(options), spans)
        dispatcher = Dispatcher(scenario, journeys.run, publish, index,
                                max(1, options.fakalab_processes),
                                os.environ.get("FAKALAB_GENERATOR_NAME", ""))
        _running.append((dispatcher, writer, spans))
        dispatcher.run()
        _flush(writer, spans)

    @staticmethod
    def _sink(runner: Any, records: Path) -> tuple[Any, Any, int]:
        """Where this process's records and summaries go: files here, or the master."""
        if isinstance(runner, WorkerRunner):
            shipper = RecordShipper(lambda batch: runner.send_message(RECORDS, batch))
            return shipper, shipper.publish, runner.worker_index
        writer = RecordWriter(records)
        path = records / f"arrivals-{os.getpid()}.json"
        return writer, lambda summary: write_json(path, summary), 0


def _sampler(options: Any) -> TraceSampler | None:
    """Which journeys are traced (None: no traceparent at all)."""
    if not options.fakalab_trace_sample:
        return None
    return TraceSampler(float(options.fakalab_trace_sample), options.fakalab_trace_rate,
                        max(1, options.fakalab_processes))


def _spans(writer: RecordWriter | RecordShipper, options: Any) -> BuyerSpans | None:
    """The buyers' spans of this process: shipped with a worker's records, else written to
    `--fakalab-traces`; None when the journeys are not traced."""
    if not options.fakalab_trace_sample or not options.fakalab_traces:
        return None
    if isinstance(writer, RecordShipper):
        return BuyerSpans(writer.span_line)
    path = Path(options.fakalab_traces) / f"buyers-{os.getpid()}.jsonl"
    return BuyerSpans(lambda line: append_lines(path, [line]))


def _flush(writer: RecordWriter | RecordShipper, spans: BuyerSpans | None) -> None:
    if spans is not None:
        spans.flush()
    writer.flush()


def _finish(runner: Any) -> None:
    """A worker's end: its journeys stopped, its last rows and summary sent, then DONE."""
    for dispatcher, writer, spans in _running:
        dispatcher.stop()
        _flush(writer, spans)
    _finished.append(True)
    runner.send_message(DONE, None)


@events.test_stopping.add_listener
def _collect(environment: Any, **_: Any) -> None:
    """On the master: ask the workers for their last records and wait for them (bounded)."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner) or "receiver" not in _master:
        return
    expected = {client.id for client in runner.clients.all}
    runner.send_message(STOP, None)
    deadline = time.monotonic() + COLLECT_TIMEOUT_S
    while not expected <= _master["done"] and time.monotonic() < deadline:
        gevent.sleep(0.1)


@events.test_stop.add_listener
def _stop(**_: Any) -> None:
    if _finished:
        return
    for dispatcher, writer, spans in _running:
        dispatcher.stop()
        _flush(writer, spans)


@events.quitting.add_listener
def _quit(**_: Any) -> None:
    for _dispatcher, writer, _buyer_spans in _running:
        writer.close()
    _running.clear()
    if "receiver" in _master:
        _master["receiver"].close()

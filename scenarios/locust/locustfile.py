"""The Locust entry: `python -m locust -f scenarios/locust/locustfile.py --headless -u N ...`.

One `Arrivals` user per generator process (`-u` = number of processes) runs the open-loop
dispatcher of the scenario given by `--fakalab-scenario`; records go to `--fakalab-records`
(`polls-<pid>.csv`, `tickets-<pid>.csv`, `arrivals-<pid>.json`), merged after the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gevent
from geventhttpclient.client import HTTPClientPool
from locust import User, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.runners import WorkerRunner

from fakalab.contract.profile import load_profile
from fakalab.contract.scenario import load_scenario
from fakalab.scenarios.locust.dispatcher import Dispatcher
from fakalab.scenarios.locust.journeys import Journeys
from fakalab.scenarios.locust.records import RecordWriter
from fakalab.scenarios.target_plugin import load_plugin

_running: list[tuple[Dispatcher, RecordWriter]] = []


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
    parser.add_argument("--fakalab-plugin", env_var="FAKALAB_PLUGIN", default="",
                        help="a target plugin (entry point of group fakalab.targets)")


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
        scenario = load_scenario(options.fakalab_scenario)
        runner = self.environment.runner
        index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        records = Path(options.fakalab_records)
        writer = RecordWriter(records)
        session = FastHttpSession(
            self.host, self.environment.events.request, None,
            client_pool=HTTPClientPool(concurrency=scenario.load.max_journeys),
            connection_timeout=5.0, network_timeout=60.0)
        journeys = Journeys(session, scenario.load.buyers, writer,
                            load_profile(options.fakalab_profile), self.host or "",
                            options.fakalab_cashier or None,
                            load_plugin(options.fakalab_plugin or None))
        dispatcher = Dispatcher(scenario, journeys.run, records / f"arrivals-{os.getpid()}.json",
                                index, max(1, options.fakalab_processes))
        _running.append((dispatcher, writer))
        dispatcher.run()
        writer.flush()


@events.test_stop.add_listener
def _stop(**_: Any) -> None:
    for dispatcher, writer in _running:
        dispatcher.stop()
        writer.flush()


@events.quitting.add_listener
def _quit(**_: Any) -> None:
    for _dispatcher, writer in _running:
        writer.close()
    _running.clear()

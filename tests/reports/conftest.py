from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fakalab.reports.analysis import Analysis, analyze
from fakalab.reports.build import build_report
from fakalab.reports.rundir import load_run

FIXTURES = Path(__file__).with_name("fixtures")
TINY = FIXTURES / "tiny"
TINY_OPAQUE = FIXTURES / "tiny-opaque"
V0 = FIXTURES / "v0-pre-release"
WINDOW_S = 20.0  # the hand computations in the tests use 20 s windows


@pytest.fixture(scope="session")
def tiny() -> Analysis:
    return analyze(load_run(TINY), WINDOW_S)


@pytest.fixture(scope="session")
def tiny_opaque() -> Analysis:
    return analyze(load_run(TINY_OPAQUE), WINDOW_S)


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report([TINY], tmp_path_factory.mktemp("tiny") / "report", window_s=WINDOW_S)


@pytest.fixture(scope="session")
def ab_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ab") / "report"
    return build_report([TINY, TINY_OPAQUE], out, window_s=WINDOW_S, resamples=200)


@pytest.fixture
def run_copy(tmp_path: Path) -> Callable[[Path], Path]:
    """A writable copy of a fixture run directory."""

    def copy(source: Path) -> Path:
        return Path(shutil.copytree(source, tmp_path / source.name))

    return copy

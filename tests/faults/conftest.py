"""Fault tests: a hard time limit per test, and a report of what each load run saw, printed at the end."""

from __future__ import annotations

import signal
from collections.abc import Generator
from types import FrameType

import pytest

# lines the load tests add (acknowledged, retried, lost, duplicated, recovery times); printed after the run
REPORT: list[str] = []
DEFAULT_TIMEOUT = 120


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A fault test that hangs is a failure, not a stuck `make test`: SIGALRM fails it after its limit."""
    marker = item.get_closest_marker("faults")
    if marker is None:
        return (yield)
    limit = int(marker.kwargs.get("timeout", DEFAULT_TIMEOUT))

    def expire(signum: int, frame: FrameType | None) -> None:
        pytest.fail(f"the fault test did not finish within {limit} s", pytrace=False)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(limit)
    try:
        return (yield)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("fault tests")
        for line in REPORT:
            terminalreporter.write_line(line)

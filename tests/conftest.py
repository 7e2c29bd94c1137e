"""Shared fixtures: a tally of oracle comparisons printed at the end of the run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

_ORACLE_CASES = [0]


@pytest.fixture
def oracle_count():
    """Call with the number of values compared bit for bit against the ap_fixed oracle."""
    def count(n: int) -> None:
        _ORACLE_CASES[0] += n
    return count


def pytest_terminal_summary(terminalreporter) -> None:
    if _ORACLE_CASES[0]:
        terminalreporter.write_line(
            f"ap_fixed oracle: {_ORACLE_CASES[0]:,} values compared bit for bit with g++ ap_types")

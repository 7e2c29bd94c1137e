"""Shared fixtures: a tally of oracle comparisons printed at the end of the run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

_ORACLE_CASES = [0]

# TensorFlow/QKeras need numpy < 2 and Keras 2: their tests run in the keras extra's own
# environment (`make test-keras`, part of `make test`), not in this one.
_KERAS_HERE = importlib.util.find_spec("tensorflow") is not None
if not _KERAS_HERE:
    collect_ignore = ["keras"]


@pytest.fixture
def oracle_count():
    """Call with the number of values compared bit for bit against the ap_fixed oracle."""
    def count(n: int) -> None:
        _ORACLE_CASES[0] += n
    return count


def pytest_terminal_summary(terminalreporter) -> None:
    if not _KERAS_HERE:
        terminalreporter.write_line("tests/keras not collected here: they run in .venv-keras (make test-keras)")
    if _ORACLE_CASES[0]:
        terminalreporter.write_line(
            f"ap_fixed oracle: {_ORACLE_CASES[0]:,} values compared bit for bit with g++ ap_types")

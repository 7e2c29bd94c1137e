"""Shared fixtures: a tally of oracle comparisons, and of how every failing CLI call ended,
printed at the end of the run."""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

import quantkan.cli

sys.path.insert(0, str(Path(__file__).parent))

_ORACLE_CASES = [0]

# Every call of quantkan.cli.main that does not succeed, by how it ended (issue 16: bad input
# must end in one line, never a traceback). Wrapped here, before any test module imports it.
_CLI_ENDINGS: Counter = Counter()
_cli_main = quantkan.cli.main


@functools.wraps(_cli_main)
def _counting_main(argv=None):
    try:
        code = _cli_main(argv)
    except SystemExit as done:  # argparse: usage line + "error: argument ..." (or --help/--version: 0)
        if done.code:
            _CLI_ENDINGS[f"refused by the argument parser (exit {done.code})"] += 1
        raise
    except BaseException as err:
        if isinstance(err, Exception):
            _CLI_ENDINGS[f"TRACEBACK ({type(err).__name__})"] += 1
        raise
    if code:
        _CLI_ENDINGS[{1: "one-line error: a tool failed or a check found mismatches (exit 1)",
                      2: "one-line error: bad input or missing extra (exit 2)",
                      130: "interrupted, model saved (exit 130)"}.get(code, f"exit {code}")] += 1
    return code


quantkan.cli.main = _counting_main

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
    if _CLI_ENDINGS:
        terminalreporter.write_line(f"quantkan CLI: {sum(_CLI_ENDINGS.values())} calls did not succeed, and ended so:")
        for ending, n in sorted(_CLI_ENDINGS.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"  {n:>5}  {ending}")
    if _ORACLE_CASES[0]:
        terminalreporter.write_line(
            f"ap_fixed oracle: {_ORACLE_CASES[0]:,} values compared bit for bit with g++ ap_types")

"""Keras-extra tests: run in .venv-keras (make test-keras). A tally of bit-exact hls4ml comparisons."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported

import pytest  # noqa: E402

_COMPARED: dict[str, int] = {}


@pytest.fixture
def hls4ml_count():
    """Call with (kind, n): n inputs whose outputs were compared bit for bit with hls4ml."""
    def count(kind: str, n: int) -> None:
        _COMPARED[kind] = _COMPARED.get(kind, 0) + n
    return count


def pytest_configure(config) -> None:
    # Known noise of the pinned stack (QKeras 0.9 quantizers serialized as constraints,
    # tensorflow-model-optimization's distutils check); nothing quantkan can act on.
    for line in ("ignore:The .keras.constraints.serialize:UserWarning",
                 "ignore:distutils Version classes are deprecated:DeprecationWarning",
                 "ignore:You are saving your model as an HDF5 file:UserWarning",
                 "ignore:non-integer arguments to randrange:DeprecationWarning"):
        config.addinivalue_line("filterwarnings", line)


def pytest_terminal_summary(terminalreporter) -> None:
    if _COMPARED:
        parts = ", ".join(f"{kind} {n:,}" for kind, n in sorted(_COMPARED.items()))
        terminalreporter.write_line(f"hls4ml oracle: inputs compared bit for bit with the golden model: {parts}")

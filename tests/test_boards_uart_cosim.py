"""The UART bridge end to end: the real host client streams a task into the simulated board.

The board is the learner behind its UART (``UARTLearner``) as Verilog under cocotb on Verilator,
at 8 clock cycles per bit; the host is :func:`quantkan.boards.host.run_stream`, exactly what
``quantkan stream`` runs, talking through a simulated serial line.  Every prediction and every
coefficient read back at the end must equal the golden learner's.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from quantkan.boards.cosim import uart_cosim
from quantkan.golden import OnlineLearner
from quantkan.rtl.commands import load_model
from quantkan.rtl.cosim import available_simulators

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
N = 400


@pytest.mark.skipif("verilator" not in available_simulators(), reason="Verilator >= 5.036 not installed")
def test_host_streams_the_default_example_through_the_simulated_uart(tmp_path):
    model, stream, learning = load_model(str(EXAMPLES / "drift_kan.toml"), None, N)
    ty = model.types
    x, target = ty.input.quantize(stream.x), ty.output.quantize(stream.target)
    learn = np.ones(N, bool)
    learn[5::9] = False  # some predict-only requests
    settings = {k: learning[k] for k in ("lr", "rounding", "seed")}
    r = uart_cosim(model, x, target, learn, tmp_path, **settings)

    assert r["samples"] == N and r["output_mismatches"] == 0, r
    assert r["coefficients_compared"] == model.n_coef and r["coefficient_mismatches"] == 0, r
    assert r["counter_mismatches"] == 0 and r["counters"][:2] == [N, int(learn.sum())], r  # read over the UART
    assert any(r["counters"][2:]), r
    assert r["hello"]["latency"] > 0 and r["hello"]["status"] == 0 and r["hello"]["baud"] == 1_000_000
    assert r["wrong_model"].startswith("the board runs a different learner: model id")
    assert r["unknown"] == "the board did not understand command '\\x00'"
    assert r["status_after_unknown"] == "unknown command"
    y = np.array(r["y"])
    assert len(np.unique(y)) > N // 4  # a learning model, not a constant
    # the comparison can fail: the same stream through a golden learner with another rounding differs
    other = OnlineLearner(copy.deepcopy(model), lr=settings["lr"], rounding="type", seed=settings["seed"])
    ys = np.array([other.step_raw(xs, ts, bool(ls)) for xs, ts, ls in zip(x, target, learn)])
    assert np.any(ys != y)


@pytest.mark.skipif("verilator" not in available_simulators(), reason="Verilator >= 5.036 not installed")
def test_host_streams_an_mlp_through_the_simulated_uart(tmp_path):
    """The MLP example behind the same UART bridge: every prediction, weight and bias as golden."""
    n = 200
    model, stream, learning = load_model(str(EXAMPLES / "qubit_mlp.toml"), None, n)
    x, target = model.types.input.quantize(stream.x), model.types.output.quantize(stream.target)
    r = uart_cosim(model, x, target, np.ones(n, bool), tmp_path, **{k: learning[k] for k in ("lr", "rounding", "seed")})
    assert r["samples"] == n and r["output_mismatches"] == 0, r
    assert r["coefficients_compared"] == sum(a.size for a in model.parameters()), r
    assert r["coefficient_mismatches"] == 0, r
    assert r["counter_mismatches"] == 0 and r["counters"][:2] == [n, n], r
    assert r["wrong_model"].startswith("the board runs a different learner: model id")


@pytest.mark.skipif("verilator" not in available_simulators(), reason="Verilator >= 5.036 not installed")
def test_a_deeper_board_streams_bit_for_bit_and_says_its_latency(tmp_path):
    """``[learning] pipeline = "deeper"`` on a board: the hello carries the deeper learner's latency,
    and the host, expecting that pipeline, gets every prediction and coefficient as golden."""
    from quantkan.boards.protocol import Spec

    n = 200
    model, stream, learning = load_model(str(EXAMPLES / "drift_kan.toml"), None, n, pipeline="deeper")
    x, target = model.types.input.quantize(stream.x), model.types.output.quantize(stream.target)
    settings = {k: learning[k] for k in ("lr", "rounding", "seed", "pipeline")}
    r = uart_cosim(model, x, target, np.ones(n, bool), tmp_path, **settings)
    deeper, deep = (Spec.for_model(model, "pipelined", learning["lr"], learning["rounding"], learning["seed"], p)
                    for p in ("deeper", "deep"))
    assert r["hello"]["latency"] == deeper.latency != deep.latency, r["hello"]
    assert r["samples"] == n and r["output_mismatches"] == 0 and r["coefficient_mismatches"] == 0, r
    assert r["coefficients_compared"] == model.n_coef and r["counter_mismatches"] == 0, r

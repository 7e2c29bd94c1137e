"""The UART bridge end to end in cocotb: the real host client against the simulated board.

:func:`uart_cosim` writes the learner-behind-its-UART core as Verilog, builds it once per
content (:class:`quantkan.rtl.cosim.Simulation`) and runs ``sim/tb_uart.py``, where
:func:`quantkan.boards.host.run_stream` streams samples through a simulated serial line and
scores every prediction and the final coefficients against the golden model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from quantkan import persist
from quantkan.golden import LearningRates
from quantkan.models import Model

__all__ = ["uart_cosim", "TESTBENCH", "TOP"]

TESTBENCH = "tb_uart"
TOP = "quantkan_uart"


def uart_cosim(model: Model, x_raw: np.ndarray, target_raw: np.ndarray, learn: np.ndarray, job_dir: str | Path,
               lr: LearningRates = 2.0 ** -4, rounding: str = "type", seed: int = 0, schedule: str = "pipelined",
               divisor: int = 8, simulator: str = "verilator", pipeline: str = "deep") -> dict:
    """Simulate the host streaming raw samples through the UART; the testbench's ``result.json``."""
    from amaranth.back import verilog

    from quantkan.boards.bridge import UARTLearner
    from quantkan.rtl.cosim import Simulation, job_folder

    job = job_folder(job_dir)
    baud = 1_000_000
    core = UARTLearner(model, clk_hz=divisor * baud, baud=baud, schedule=schedule, lr=lr, rounding=rounding,
                       seed=seed, pipeline=pipeline)
    source = job / f"{TOP}.v"
    source.write_text(verilog.convert(core, name=TOP, emit_src=False))
    persist.save(model, job / "model.qkan")
    (job / "settings.json").write_text(json.dumps({"lr": lr, "rounding": rounding, "seed": seed, "schedule": schedule,
                                                   "pipeline": pipeline, "divisor": divisor}))
    np.savez(job / "stream.npz", x=np.asarray(x_raw, np.int64), target=np.asarray(target_raw, np.int64),
             learn=np.asarray(learn, bool))
    (job / "result.json").unlink(missing_ok=True)
    Simulation([source], TOP, simulator).test(TESTBENCH, job)
    return json.loads((job / "result.json").read_text())

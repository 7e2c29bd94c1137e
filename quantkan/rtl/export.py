"""Export a KAN learner to Verilog, with what a testbench or board flow needs beside it.

The module has plain ports (Amaranth flattens the stream payloads): ``clk``, ``rst``,
``x`` (n_in packed input words, input 0 in the low bits), ``target``, ``learn``,
``valid``, ``ready``, ``y``, ``y_valid`` and the parameter port ``p_sel``,
``p_addr``, ``p_we``, ``p_wdata``, ``p_rdata``.  ``quantkan_rtl.json`` records the
timing (latency, II, D per layer), widths and the parameter address fields;
``model.qkan`` is the model the RTL starts from, so a testbench rebuilds the golden
learner from the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog

from quantkan import persist
from quantkan.models import KAN
from quantkan.rtl.coefbank import bank_address, pack_fields
from quantkan.rtl.kan import KANLearner

__all__ = ["export_verilog", "param_address", "DEFAULT_NAME"]

DEFAULT_NAME = "quantkan_kan"


def export_verilog(model: KAN, out_dir: str | Path, schedule: str = "pipelined", lr: float = 2.0 ** -4,
                   rounding: str = "type", seed: int = 0, name: str = DEFAULT_NAME, pipeline: str = "deep") -> Path:
    """Write ``<name>.v``, ``quantkan_rtl.json`` and ``model.qkan`` into ``out_dir``."""
    learner = KANLearner(model, schedule=schedule, lr=lr, rounding=rounding, seed=seed, pipeline=pipeline)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(learner, name=name, emit_src=False)
    (out / f"{name}.v").write_text(text)
    persist.save(model, out / "model.qkan")
    ty = model.types
    t = learner.timing
    meta = {
        "format": "quantkan-rtl", "version": 1, "top": name, "verilog": f"{name}.v", "model": "model.qkan",
        "schedule": schedule, "pipeline": pipeline, "lr": learner.golden.lr.value, "rounding": rounding, "seed": seed,
        "timing": {"latency": t.latency, "step": t.step, "ii": t.ii, "delays": t.delays,
                   "pipeline_delays": t.pipeline_delays, "read": t.read, "write": t.write},
        "widths": {"input": ty.input.width, "output": ty.output.width, "coef": ty.coef.width},
        "types": {"input": str(ty.input), "output": str(ty.output), "coef": str(ty.coef)},
        "n_in": learner.n_in, "n_out": learner.n_out, "order": model.order,
        "coefficient_shapes": [list(c.shape) for c in model.coefficients],
        "param_fields": [[n, w] for n, w in learner.param_fields],
    }
    (out / "quantkan_rtl.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out / f"{name}.v"


def param_address(meta: dict, layer: int, j: int, i: int, c: int) -> int:
    """``p_addr`` of coefficient ``c`` of edge (j, i) in ``layer``, from an export's
    ``quantkan_rtl.json``: what host-side tools (testbenches, bridges) need."""
    b, a = bank_address(c, meta["order"])
    return pack_fields([tuple(f) for f in meta["param_fields"]], {"b": b, "a": a, "i": i, "j": j, "layer": layer})

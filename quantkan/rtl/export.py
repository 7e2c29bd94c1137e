"""Export a learner (KAN or MLP) to Verilog, with what a testbench or board flow needs beside it.

The module has plain ports (Amaranth flattens the stream payloads): ``clk``, ``rst``,
``x`` (n_in packed input words, input 0 in the low bits), ``target``, ``learn``,
``valid``, ``ready``, ``y``, ``y_valid`` and the parameter port ``p_sel``,
``p_addr``, ``p_we``, ``p_wdata``, ``p_rdata``.  ``quantkan_rtl.json`` records the
timing (latency, step, settle, II, D per layer), the parameter port's ``read_latency``,
widths, the parameter arrays (``model.parameters()``: shape and type of each), the parameter
address fields and the diagnostics counters' address map (``counters``:
:class:`quantkan.diagnostics.CounterMap`, the counter space above the parameters);
``model.qkan`` is the model the RTL starts from, so a testbench rebuilds the golden learner
from the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog

from quantkan import persist
from quantkan.golden import LearningRates
from quantkan.models import KAN, MLP, Model
from quantkan.rtl.coefbank import bank_address, pack_fields
from quantkan.rtl.kan import READ_LATENCY, KANLearner, Learner, Timing
from quantkan.rtl.mlp import MLPLearner, mlp_param_address

__all__ = ["export_verilog", "learner_for", "learner_timing", "param_address", "top_name"]


def top_name(model: Model) -> str:
    """The Verilog module (and file) name of a model's learner: ``quantkan_kan`` or ``quantkan_mlp``."""
    return f"quantkan_{model.kind}"


def learner_for(model: Model, schedule: str = "pipelined", lr: LearningRates = 2.0 ** -4, rounding: str = "type",
                seed: int = 0, pipeline: str = "deep") -> Learner:
    """The learner of a model's kind: :class:`KANLearner` or :class:`MLPLearner`."""
    settings = dict(schedule=schedule, lr=lr, rounding=rounding, seed=seed, pipeline=pipeline)
    if isinstance(model, KAN):
        return KANLearner(model, **settings)
    if isinstance(model, MLP):
        return MLPLearner(model, **settings)
    raise TypeError(f"the RTL generator builds KAN and MLP learners, not {type(model).__name__}")


def learner_timing(model: Model, schedule: str = "pipelined", **settings) -> Timing:
    """The timing (latency, II, D per layer) of the learner a model of either kind would get,
    without keeping or elaborating it: what ``train`` needs to learn with the hardware's D."""
    learner = learner_for(model, schedule=schedule, **settings)
    learner._MustUse__silence = True  # built only to be measured
    return learner.timing


def export_verilog(model: Model, out_dir: str | Path, schedule: str = "pipelined", lr: LearningRates = 2.0 ** -4,
                   rounding: str = "type", seed: int = 0, name: str | None = None, pipeline: str = "deep") -> Path:
    """Write ``<name>.v`` (default :func:`top_name`), ``quantkan_rtl.json`` and ``model.qkan`` into ``out_dir``."""
    name = name or top_name(model)
    learner = learner_for(model, schedule=schedule, lr=lr, rounding=rounding, seed=seed, pipeline=pipeline)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(learner, name=name, emit_src=False)
    (out / f"{name}.v").write_text(text)
    persist.save(model, out / "model.qkan")
    ty = model.types
    t = learner.timing
    meta = {
        "format": "quantkan-rtl", "version": 1, "top": name, "verilog": f"{name}.v", "model": "model.qkan",
        "schedule": schedule, "pipeline": pipeline, "lr": learner.golden.lr, "rounding": rounding, "seed": seed,
        "timing": {"latency": t.latency, "step": t.step, "settle": t.settle, "ii": t.ii, "delays": t.delays,
                   "pipeline_delays": t.pipeline_delays, "read": t.read, "write": t.write},
        "kind": model.kind,
        "widths": {"input": ty.input.width, "output": ty.output.width, "param": len(learner.p_rdata)},
        "read_latency": READ_LATENCY,  # parameter port: cycles from p_addr to p_rdata
        "types": {"input": str(ty.input), "output": str(ty.output)},
        "n_in": learner.n_in, "n_out": learner.n_out,
        "param_shapes": [list(a.shape) for a in model.parameters()],
        "param_types": [str(t) for t in model.parameter_types()],
        "param_fields": [[n, w] for n, w in learner.param_fields],
        "counters": learner.counters.to_json(),  # diagnostics counters: address = base + index * words + word
    }
    if isinstance(model, KAN):  # what KAN-only host tools (the UART bridge) read
        meta["widths"]["coef"], meta["types"]["coef"] = ty.coef.width, str(ty.coef)
        meta["order"], meta["coefficient_shapes"] = model.order, meta["param_shapes"]
    (out / "quantkan_rtl.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out / f"{name}.v"


def param_address(meta: dict, p: int, *index: int) -> int:
    """``p_addr`` of ``model.parameters()[p][index]`` from an export's ``quantkan_rtl.json``
    (a KAN: ``p`` is the layer, ``index`` = (j, i, c)): what host-side tools need."""
    fields = [tuple(f) for f in meta["param_fields"]]
    if meta.get("kind", "kan") == "mlp":
        return mlp_param_address(fields, meta["param_shapes"][p], p, index)
    j, i, c = index
    b, a = bank_address(c, meta["order"])
    return pack_fields(fields, {"b": b, "a": a, "i": i, "j": j, "layer": p})

"""Write a self-contained Vitis HLS project for a model's whole online learning step.

The C++ reads the derived types (accumulators, products, update paths) from the
golden learner's layers, so the backend never re-derives the math: it spells the
golden step in ap_fixed, where every assignment is the golden model's cast.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from quantkan.diagnostics import HW_GLOBAL, HW_LAYER, hardware_names
from quantkan.fixed import FixedType, Rounding
from quantkan.golden import DenseLayerFixed, KANLayerFixed, LearningRates, OnlineLearner, _Updater, stochastic_types
from quantkan.models import KAN, Model

__all__ = ["export", "random_stream", "DEFAULT_PART", "DEFAULT_CLOCK_NS", "TOP", "TB_SAMPLES"]

DEFAULT_PART = "xcvu13p-flga2577-2-e"  # the reference paper's device
DEFAULT_CLOCK_NS = 5.0
TOP = "quantkan_top"
MODE_STEP, MODE_WRITE, MODE_READ, MODE_FLUSH = 0, 1, 2, 3


def _c(t: FixedType) -> str:
    return str(t)


def _literal(value: float) -> str:
    """An exactly representable double, spelled so that C++ reads back the same value."""
    return repr(float(value))


def _raw_literal(t: FixedType, ctype: str):
    """A formatter of raw values of ``t`` as exact C++ initializers of ``ctype``: a double when it
    holds the value (53 significant bits), else the sum of two that do, added exactly in ap_fixed."""
    def fmt(raw) -> str:
        raw = int(raw)
        if abs(raw) < 1 << 53:
            return _literal(math.ldexp(raw, -t.frac))
        high = (abs(raw) >> 32 << 32) * (1 if raw > 0 else -1)  # toward zero: stays inside t's range
        low = raw - high
        return f"{ctype}({_literal(math.ldexp(high, -t.frac))}) + {ctype}({_literal(math.ldexp(low, -t.frac))})"
    return fmt


def _array(values: np.ndarray, fmt=_literal) -> str:
    if values.ndim == 1:
        return "{" + ", ".join(fmt(v) for v in values) + "}"
    return "{" + ",\n ".join(_array(v, fmt) for v in values) + "}"


def _updater_struct(name: str, up: _Updater, g_t: FixedType) -> str:
    """The config make_delta<> reads: lr, the exact scaled type, rounding of the delta."""
    lr = up.lr
    scaled_t = lr.scale_type(g_t)
    if lr.shift is not None:
        lr_t, lr_value = FixedType(2, 1, False), 0.0
    else:
        lr_t, lr_value = lr.constant, lr.value
    pre_t, sto_t, drop = stochastic_types(scaled_t, up.update_t)
    return f"""struct {name} {{
    typedef {_c(g_t)} g_t;
    typedef {_c(scaled_t)} scaled_t;
    typedef {_c(pre_t)} pre_t;
    typedef {_c(sto_t)} sto_t;
    typedef {_c(up.update_t)} update_t;
    typedef {_c(up.update_t.with_modes(rounding=Rounding.TRN))} update_trn_t;
    typedef {_c(lr_t)} lr_t;
    static constexpr double lr_value = {_literal(lr_value)};
    static const bool lr_is_shift = {str(lr.shift is not None).lower()};
    static const bool stochastic = {str(up.rounding == "stochastic").lower()};
    static const int drop = {drop};
}};
"""


def _acc_lines(layer, user_acc: FixedType | None) -> str:
    narrow = user_acc is not None
    return (f"    typedef {_c(layer.acc_t)} acc_t;\n"
            f"    typedef {_c(user_acc or layer.acc_t)} acc_user_t;\n"
            f"    static const bool narrow_acc = {str(narrow).lower()};\n")


def _kan_config(l: int, layer: KANLayerFixed, in_t: str, out_t: str, model: KAN) -> str:
    ty, gm = model.types, layer.map
    inv_h_bits = gm.inv_h_type.width if gm.inv_h_type is not None else 1
    return _updater_struct(f"layer{l}_update", layer.updater, layer.g_t) + f"""
struct layer{l}_config : layer{l}_update {{
    static const int n_in = {layer.n_in}, n_out = {layer.n_out}, order = {model.order};
    static const int n_coef = {model.n_coef}, cells = {model.grid.cells}, lut_bits = {model.lut_bits};
    static const long long lo_raw = {gm.lo_raw}LL;
    static const int inv_h_bits = {inv_h_bits};
    static const unsigned long long inv_h_raw = {gm.inv_h_raw}ULL;
    static const int t_shift = {gm.t_frac - gm.lut_bits};
    typedef {in_t} in_t;
    typedef {out_t} out_t;
    typedef qk_coef_t coef_t;
    typedef qk_basis_t basis_t;
    typedef qk_deriv_t deriv_t;
    typedef qk_grad_t grad_t;
    typedef qk_error_t error_t;
{_acc_lines(layer, ty.acc)}    typedef {_c(layer.slope_t)} slope_acc_t;
    typedef {_c(layer.back_t)} back_acc_t;
}};
"""


def _dense_config(l: int, layer: DenseLayerFixed, in_t: str, out_t: str, model: Model) -> str:
    return (_updater_struct(f"layer{l}_wupdate", layer.w_updater, layer.gw_t)
            + _updater_struct(f"layer{l}_bupdate", layer.b_updater, model.types.error) + f"""
struct layer{l}_config {{
    static const int n_in = {layer.n_in}, n_out = {layer.n_out};
    static const bool relu = {str(layer.relu).lower()};
    typedef {in_t} in_t;
    typedef {out_t} out_t;
    typedef qk_weight_t weight_t;
    typedef qk_bias_t bias_t;
    typedef qk_error_t error_t;
{_acc_lines(layer, model.types.acc)}    typedef {_c(layer.back_t)} back_acc_t;
    typedef {_c(layer.gw_t)} gw_t;
    typedef layer{l}_wupdate wupd;
    typedef layer{l}_bupdate bupd;
}};
""")


@dataclass
class _Array:
    """One parameter array of the firmware: C name, shape, C type, raw initial values (and their
    FixedType; None for plain integers such as LFSR states)."""

    name: str
    ctype: str
    values: np.ndarray
    partition: list[tuple[int, str]]
    type: FixedType | None = None

    def initializer(self) -> str:
        fmt = _raw_literal(self.type, self.ctype) if self.type is not None else (lambda v: f"{int(v)}u")
        return _array(self.values, fmt)

    @property
    def decl(self) -> str:
        dims = "".join(f"[{d}]" for d in self.values.shape)
        return f"{self.ctype} {self.name}{dims}"


def _arrays(model: Model, learner: OnlineLearner) -> tuple[list[_Array], list[_Array]]:
    """(parameter arrays, LFSR state arrays) with their current contents."""
    params, lfsrs = [], []
    for l, layer in enumerate(learner.pipeline.layers):
        if isinstance(layer, KANLayerFixed):
            params.append(_Array(f"coef{l}", "qk_coef_t", layer.coef.copy(),
                                 [(1, "complete"), (2, "complete"), (3, f"cyclic factor={model.order + 1}")],
                                 model.types.coef))
            banks = [(f"lfsr{l}", layer.updater, layer.coef.shape[:2] + (model.order + 1,))]
        else:
            params.append(_Array(f"w{l}", "qk_weight_t", layer.w.copy(), [(0, "complete")], model.types.weight))
            params.append(_Array(f"b{l}", "qk_bias_t", layer.b.copy(), [(0, "complete")], model.types.bias))
            banks = [(f"lfsr_w{l}", layer.w_updater, layer.w.shape), (f"lfsr_b{l}", layer.b_updater, layer.b.shape)]
        for name, up, shape in banks:
            values = up.lfsr.state if up.lfsr is not None else np.ones(shape, dtype=np.uint64)
            lfsrs.append(_Array(name, "ap_uint<32>", values, [(0, "complete")]))
    return params, lfsrs


def export(model: Model, out_dir: str | Path, part: str = DEFAULT_PART, clock_ns: float = DEFAULT_CLOCK_NS,
           lr: LearningRates = 2.0 ** -4, rounding: str = "type", seed: int = 0,
           stream: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
           delay: int | Sequence[int] = 0) -> Path:
    """Write the HLS project for ``model`` learning with (lr, rounding, seed) and update delay D.

    ``delay`` (one D, or one per layer) is the golden model's: the update of sample n lands
    after the forward pass of sample n + D, so the firmware is bit-exact with a pipelined
    learner (the RTL's ``pipelined`` schedule reports its D).  ``stream`` = (x_raw,
    target_raw, learn) writes tb_data/ for the C++ testbench with the golden model's outputs
    as the expected results; without one, the testbench replays :data:`TB_SAMPLES` seeded
    random samples over the input and output types' ranges, so every project's own
    testbench (and Vitis csim) has data to check.
    """
    if not (isinstance(clock_ns, (int, float)) and clock_ns > 0):
        raise ValueError(f"clock period must be a positive number of ns, got {clock_ns!r}")
    if not isinstance(part, str) or not part.strip():
        raise ValueError(f"part must be a Xilinx part name, got {part!r}")
    out = Path(out_dir)
    learner = OnlineLearner(model, lr=lr, delay=delay, rounding=rounding, seed=seed)
    (out / "firmware").mkdir(parents=True, exist_ok=True)
    (out / "tb").mkdir(exist_ok=True)
    (out / "csim").mkdir(exist_ok=True)
    template = resources.files("quantkan.hls") / "templates"
    for name in ("quantkan.h",):
        (out / "firmware" / name).write_text((template / name).read_text())
    params, lfsrs = _arrays(model, learner)
    (out / "firmware" / "defines.h").write_text(_defines(model, learner))
    (out / "firmware" / "parameters.h").write_text(_parameters(model, params, lfsrs))
    (out / "firmware" / f"{TOP}.h").write_text(_top_header(model))
    (out / "firmware" / f"{TOP}.cpp").write_text(_top_source(model, params, lfsrs, learner.delays))
    (out / "csim" / "capi.cpp").write_text((template / "capi.cpp").read_text())
    (out / "tb" / "tb_quantkan.cpp").write_text((template / "tb_quantkan.cpp").read_text())
    n_params = sum(int(p.values.size) for p in params)
    meta = {"format": "quantkan-hls", "version": 1, "config": model.config(), "top": TOP,
            "part": part, "clock_ns": clock_ns, "lr": learner.lr, "rounding": rounding,
            "seed": seed, "delay": learner.delays, "n_params": n_params,
            "parameters": [{"name": p.name, "shape": list(p.values.shape)} for p in params]}
    (out / "quantkan.json").write_text(json.dumps(meta, indent=2) + "\n")
    # the expected outputs come from a learner of its own on a copy: exporting never trains ``model``
    replay = OnlineLearner(copy.deepcopy(model), lr=lr, delay=delay, rounding=rounding, seed=seed)
    tb_files = _write_tb_data(out, model, replay, *(stream if stream is not None else random_stream(model, seed)))
    (out / "build.tcl").write_text(_build_tcl(part, clock_ns, tb_files))
    (out / "README.md").write_text(_readme(model, part, clock_ns, learner.delays))
    return out


def _hidden_ctype(model: Model) -> str:
    """C type of the hidden activations: an MLP's optional ``hidden`` type, else the input type."""
    return "qk_hidden_t" if getattr(model.types, "hidden", None) is not None else "qk_input_t"


def _address_bits(n_params: int) -> int:
    """Width of the parameter port's address: every parameter, and no more (no aliasing)."""
    return max(1, (n_params - 1).bit_length())


def _defines(model: Model, learner: OnlineLearner) -> str:
    ty = model.types
    typedefs = "".join(f"typedef {_c(getattr(ty, f))} qk_{f}_t;\n"
                       for f in ty.__dataclass_fields__ if getattr(ty, f) is not None)
    layers = learner.pipeline.layers
    n_params = sum(int(p.size) for p in model.parameters())
    n_counters = len(hardware_names(len(layers)))
    configs = []
    hidden = _hidden_ctype(model)
    for l, layer in enumerate(layers):
        in_t = "qk_input_t" if l == 0 else hidden
        out_t = "qk_output_t" if l == len(layers) - 1 else hidden
        if isinstance(layer, KANLayerFixed):
            configs.append(_kan_config(l, layer, in_t, out_t, model))
        else:
            configs.append(_dense_config(l, layer, in_t, out_t, model))
    return f"""// Generated by quantkan: the model's FixedTypes and per-layer configuration.
#ifndef QUANTKAN_DEFINES_H_
#define QUANTKAN_DEFINES_H_

#include <ap_fixed.h>
#include <ap_int.h>

#define N_IN {model.layers[0]}
#define N_OUT {model.layers[-1]}
#define N_LAYERS {len(layers)}
#define MODE_STEP {MODE_STEP}
#define MODE_WRITE {MODE_WRITE}
#define MODE_READ {MODE_READ}
#define MODE_FLUSH {MODE_FLUSH}
#define N_PARAMS {n_params}LL
#define N_COUNTERS {n_counters}LL  // diagnostics counters, at N_PARAMS + index (quantkan.diagnostics order)

typedef ap_uint<{_address_bits(n_params + n_counters)}> qk_param_addr_t;  // N_PARAMS + N_COUNTERS addresses

{typedefs}
{"".join(configs)}
#endif
"""


def _parameters(model: Model, params: list[_Array], lfsrs: list[_Array]) -> str:
    body = []
    if isinstance(model, KAN):
        body.append(f"static const qk_basis_t basis_table[{1 << model.lut_bits}][{model.order + 1}] = "
                    f"{_array(model.tables.basis_raw, _raw_literal(model.types.basis, 'qk_basis_t'))};\n")
        body.append(f"static const qk_deriv_t deriv_table[{1 << model.lut_bits}][{model.order + 1}] = "
                    f"{_array(model.tables.deriv_raw, _raw_literal(model.types.deriv, 'qk_deriv_t'))};\n")
    for p in params:
        body.append(f"#define {p.name.upper()}_INIT " + p.initializer().replace("\n", " \\\n") + "\n")
    for s in lfsrs:
        body.append(f"#define {s.name.upper()}_INIT " + s.initializer().replace("\n", " \\\n") + "\n")
    return ("// Generated by quantkan: spline ROMs and initial parameters (exact values).\n"
            "#ifndef QUANTKAN_PARAMETERS_H_\n#define QUANTKAN_PARAMETERS_H_\n\n#include \"defines.h\"\n\n"
            + "\n".join(body) + "\n#endif\n")


def _top_header(model: Model) -> str:
    return f"""// Generated by quantkan.
#ifndef QUANTKAN_TOP_H_
#define QUANTKAN_TOP_H_

#include "defines.h"

// One call = one sample: forward pass, on-chip error, backward pass and update (learn=1).
// mode MODE_WRITE / MODE_READ load or read back the raw bits of parameter param_addr;
// MODE_FLUSH lands every update still in flight (update delay D > 0), as a drained pipeline.
void {TOP}(const qk_input_t x[N_IN], const qk_output_t target[N_OUT], bool learn,
           qk_output_t y[N_OUT], ap_uint<2> mode, qk_param_addr_t param_addr,
           ap_int<64> param_in, ap_int<64>* param_out);

#endif
"""


def _top_source(model: Model, params: list[_Array], lfsrs: list[_Array], delays: list[int]) -> str:
    n = len(model.layers) - 1
    statics, pragmas = [], []
    upd_types = [f"quantkan::{'kan' if isinstance(model, KAN) else 'dense'}_update<layer{l}_config>"
                 for l in range(n)]
    def apply_call(l: int, update: str) -> str:
        params = f"coef{l}" if isinstance(model, KAN) else f"w{l}, b{l}"
        return f"quantkan::{'kan' if isinstance(model, KAN) else 'dense'}_apply<layer{l}_config>({params}, {update}, diag{l});"

    counters = [f"    static ap_uint<32> diag{l}[{len(HW_LAYER)}] = {{{', '.join('0' * len(HW_LAYER))}}};" for l in range(n)]
    counters.append("    static ap_uint<32> diag_samples = 0, diag_learned = 0;")
    counter_io = [f"        if (addr == N_PARAMS + {c}) *param_out = {name};"
                  for c, name in enumerate(("diag_samples", "diag_learned"))]
    counter_io += [f"        if (addr == N_PARAMS + {len(HW_GLOBAL) + len(HW_LAYER) * l + k}) *param_out = diag{l}[{k}];"
                   for l in range(n) for k in range(len(HW_LAYER))]
    clear = "\n".join([f"            diag_samples = 0;\n            diag_learned = 0;"]
                      + [f"            for (int k = 0; k < {len(HW_LAYER)}; k++) diag{l}[k] = 0;" for l in range(n)])
    for a in [*params, *lfsrs]:
        statics.append(f"    static {a.decl} = {a.name.upper()}_INIT;")
        for dim, kind in a.partition:
            pragmas.append(f"#pragma HLS ARRAY_PARTITION variable={a.name} {kind} dim={dim}")
    io_lines, offset = [], 0
    for p in params:
        size = int(p.values.size)
        strides, stride = [], size
        for d in p.values.shape:
            stride //= d
            strides.append(stride)
        idx = "".join(f"[(a / {s}) % {d}]" for s, d in zip(strides, p.values.shape))
        io_lines.append(f"        if (addr >= {offset} && addr < {offset + size}) {{\n"
                        f"            int a = addr - {offset};\n"
                        f"            if (mode == MODE_WRITE) {p.name}{idx}.range() = param_in;\n"
                        f"            *param_out = quantkan::raw_bits({p.name}{idx});\n        }}")
        offset += size
    acts = [f"    {_hidden_ctype(model)} h{l}[{model.layers[l + 1]}];" for l in range(n - 1)]
    fwd, bwd, ctx = [], [], []
    names = ["x"] + [f"h{l}" for l in range(n - 1)] + ["y"]
    for l in range(n):
        n_in, n_out = model.layers[l], model.layers[l + 1]
        if isinstance(model, KAN):
            ctx.append(f"    int k{l}[{n_in}], row{l}[{n_in}];\n"
                       f"    qk_coef_t cread{l}[{n_out}][{n_in}][{model.order + 1}];")
            fwd.append(f"    quantkan::kan_forward<layer{l}_config>({names[l]}, {names[l + 1]}, coef{l}, "
                       f"basis_table, k{l}, row{l}, cread{l}, diag{l});")
            bwd.append(f"        quantkan::kan_backward<layer{l}_config>(err{l + 1}, err{l}, {str(l > 0).lower()}, "
                       f"upd{l}, basis_table, deriv_table, k{l}, row{l}, cread{l}, lfsr{l}, diag{l}, "
                       f"diag{max(l - 1, 0)});")
        else:
            ctx.append(f"    qk_weight_t wread{l}[{n_out}][{n_in}];\n    bool active{l}[{n_out}];")
            fwd.append(f"    quantkan::dense_forward<layer{l}_config>({names[l]}, {names[l + 1]}, w{l}, b{l}, "
                       f"wread{l}, active{l}, diag{l});")
            bwd.append(f"        quantkan::dense_backward<layer{l}_config>(err{l + 1}, err{l}, {str(l > 0).lower()}, "
                       f"{names[l]}, upd{l}, wread{l}, active{l}, lfsr_w{l}, lfsr_b{l}, diag{l}, "
                       f"diag{max(l - 1, 0)});")
    errs = "\n".join(f"        qk_error_t err{l}[{model.layers[l]}];" for l in range(n + 1))
    # Updates in flight: line{l} holds layer l's last D updates (D = 0: none, an unused slot).
    lines = [f"    static {upd_types[l]} line{l}[{max(1, d)}];  // D = {d}" for l, d in enumerate(delays)]
    lines += [f"#pragma HLS ARRAY_PARTITION variable=line{l} complete dim=1" for l, d in enumerate(delays) if d > 0]
    flush = [f"        for (int d = {d - 1}; d >= 0; d--) {{\n"
             f"            {apply_call(l, f'line{l}[d]')}\n            line{l}[d].valid = false;\n        }}"
             for l, d in enumerate(delays) if d > 0]
    updates = "\n".join(f"    {upd_types[l]} upd{l};\n    upd{l}.valid = false;" for l in range(n))
    lands = "\n".join(f"    {apply_call(l, f'quantkan::delay_line<{d}>(line{l}, upd{l})')}"
                      for l, d in enumerate(delays))
    return f"""// Generated by quantkan: the whole online learning step of a {model!r}.
#include "{TOP}.h"
#include "parameters.h"
#include "quantkan.h"

void {TOP}(const qk_input_t x[N_IN], const qk_output_t target[N_OUT], bool learn,
           qk_output_t y[N_OUT], ap_uint<2> mode, qk_param_addr_t param_addr,
           ap_int<64> param_in, ap_int<64>* param_out) {{
#pragma HLS PIPELINE II=1
#pragma HLS ARRAY_PARTITION variable=x complete
#pragma HLS ARRAY_PARTITION variable=target complete
#pragma HLS ARRAY_PARTITION variable=y complete
{chr(10).join(statics)}
{chr(10).join(counters)}
{chr(10).join(lines)}
{chr(10).join(pragmas)}
    if (mode == MODE_FLUSH) {{
{chr(10).join(flush)}
        return;
    }}
    if (mode != MODE_STEP) {{
        int addr = param_addr;
        *param_out = 0;
{chr(10).join(io_lines)}
{chr(10).join(counter_io)}
        if (mode == MODE_WRITE && addr >= N_PARAMS) {{  // a write to the counter space clears them all
{clear}
        }}
        return;
    }}
    quantkan::count(diag_samples, true);
    quantkan::count(diag_learned, learn);
{chr(10).join(acts)}
{chr(10).join(ctx)}
{chr(10).join(fwd)}
{updates}
    if (learn) {{
{errs}
        for (int j = 0; j < N_OUT; j++) {{
#pragma HLS UNROLL
            quantkan::count(diag{n - 1}[quantkan::DIAG_ERR_SAT], quantkan::overflows<qk_error_t>(y[j] - target[j]));
            err{n}[j] = y[j] - target[j];
        }}
{chr(10).join(reversed(bwd))}
    }}
    // The update of the sample D_l calls ago lands now, read-modify-write on the current values.
{lands}
}}
"""


#: Samples of the testbench stream when none is given.
TB_SAMPLES = 256


def random_stream(model: Model, seed: int = 0, n: int = TB_SAMPLES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x_raw, target_raw, learn): ``n`` samples uniform over the raw ranges of the input and
    output types, learning on every sample."""
    rng = np.random.default_rng(seed)
    ti, to = model.types.input, model.types.output
    x = rng.integers(ti.min_raw, ti.max_raw, size=(n, model.layers[0]), endpoint=True)
    target = rng.integers(to.min_raw, to.max_raw, size=(n, model.layers[-1]), endpoint=True)
    return x, target, np.ones(n, dtype=bool)


def _write_tb_data(out: Path, model: Model, learner: OnlineLearner, x_raw, target_raw, learn) -> list[str]:
    """The stream and the golden model's outputs, raw integers, one sample per line."""
    x_raw, target_raw = np.asarray(x_raw, np.int64), np.asarray(target_raw, np.int64)
    learn = np.asarray(learn, bool)
    if not (len(x_raw) == len(target_raw) == len(learn)):
        raise ValueError("stream x, target and learn must have the same length")
    (out / "tb_data").mkdir(exist_ok=True)
    rows, expected = [], []
    for x, t, lrn in zip(x_raw, target_raw, learn):
        expected.append(learner.step_raw(x, t, bool(lrn)))
        rows.append(" ".join(map(str, [int(lrn), *x.tolist(), *t.tolist()])))
    (out / "tb_data" / "stream.txt").write_text("\n".join(rows) + "\n")
    (out / "tb_data" / "expected.txt").write_text(
        "\n".join(" ".join(map(str, y.tolist())) for y in expected) + "\n")
    return ["tb_data/stream.txt", "tb_data/expected.txt"]


def _build_tcl(part: str, clock_ns: float, tb_files: list[str]) -> str:
    tb = "".join(f"add_files -tb {f}\n" for f in tb_files)
    return f"""# Generated by quantkan. Vitis HLS: vitis_hls -f build.tcl
# (Vitis 2024.2 and later: vitis-run --mode hls --tcl build.tcl)
set project_dir [file dirname [file normalize [info script]]]
cd $project_dir
open_project -reset quantkan_prj
set_top {TOP}
add_files firmware/{TOP}.cpp -cflags "-std=c++14 -Ifirmware"
add_files -tb tb/tb_quantkan.cpp -cflags "-std=c++14 -Ifirmware"
{tb}open_solution -reset solution1 -flow_target vivado
set_part {{{part}}}
create_clock -period {clock_ns:g} -name default
csim_design
csynth_design
cosim_design
export_design -format ip_catalog -description "quantkan online learner" -vendor quantkan -library hls -version 1.0
exit
"""


def _readme(model: Model, part: str, clock_ns: float, delays: list[int]) -> str:
    timing = ("D = 0, plain SGD" if not any(delays) else
              f"update delay D = {delays} per layer: the update of sample n lands after the forward pass of "
              "sample n + D, as in a pipelined learner; mode MODE_FLUSH lands the updates still in flight")
    return f"""# quantkan HLS project: {model!r}

Generated by `quantkan export hls`. One call of `{TOP}` is one sample: forward pass,
on-chip error, backward pass and the sparse update ({timing}).

    vitis_hls -f build.tcl      # csim, csynth, cosim, export_design (IP catalog)

Part `{part}`, clock {clock_ns:g} ns. Files:

- `firmware/{TOP}.cpp|.h`: the top function; parameters live in static arrays,
  partitioned so the S+1 active coefficients of an edge are read in one cycle.
- `firmware/quantkan.h`: the layer library (KAN and dense forward/backward/update).
- `firmware/defines.h`: every FixedType of the model and each layer's derived types.
- `firmware/parameters.h`: basis and derivative ROMs, initial parameters, LFSR seeds.
- `tb/tb_quantkan.cpp`: replays `tb_data/stream.txt` and compares with `tb_data/expected.txt`
  (the golden model's outputs), failing on any mismatch.
- `csim/capi.cpp`: a C ABI used by `quantkan.hls.compile` for C simulation from Python.
- `quantkan.json`: what was exported (model config, learning settings, parameter layout).
"""

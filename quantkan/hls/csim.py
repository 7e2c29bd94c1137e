"""C simulation: build an exported HLS project with g++ and drive it from Python.

The firmware compiles against hls4ml's ap_types headers into a shared library
(cached by content); each :class:`CompiledLearner` loads a private copy, because
the top function keeps its parameters in static arrays.
"""

from __future__ import annotations

import copy
import ctypes
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantkan.cpp import build_executable
from quantkan.fixed import FixedType
from quantkan.golden import LearningRates, OnlineLearner
from quantkan.hls.emit import export
from quantkan.models import Model

__all__ = ["compile", "CompiledLearner", "CsimScore", "compare_stream"]

_I64P = ctypes.POINTER(ctypes.c_longlong)


def _project_sources(project: Path) -> dict[str, str]:
    firmware = project / "firmware"
    sources = {p.name: p.read_text() for p in sorted(firmware.iterdir()) if p.suffix in (".h", ".cpp")}
    sources["capi.cpp"] = (project / "csim" / "capi.cpp").read_text()
    return sources


def compile(project: str | Path, flags: tuple[str, ...] = ("-O2",)) -> CompiledLearner:  # noqa: A001
    """Build ``project`` (from :func:`quantkan.hls.export`) and return its ``step`` interface."""
    project = Path(project)
    meta_path = project / "quantkan.json"
    if not meta_path.is_file():
        raise ValueError(f"{project} is not a quantkan HLS project (no quantkan.json)")
    meta = json.loads(meta_path.read_text())
    library = build_executable(_project_sources(project), "libquantkan_csim.so", flags=flags, shared=True)
    return CompiledLearner(library, meta)


class CompiledLearner:
    """The compiled firmware with the golden learner's ``step`` / ``step_raw`` interface."""

    def __init__(self, library: Path, meta: dict) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="quantkan-csim-"))
        private = self._dir / library.name
        shutil.copy(library, private)
        self._lib = ctypes.CDLL(str(private))
        self._lib.qk_run.argtypes = [ctypes.c_int, _I64P, _I64P, ctypes.POINTER(ctypes.c_ubyte), _I64P]
        self._lib.qk_param.restype = ctypes.c_int
        self._lib.qk_param.argtypes = [ctypes.c_longlong, ctypes.c_int, ctypes.c_longlong, _I64P]
        self._lib.qk_n_params.restype = ctypes.c_longlong
        self.meta = meta
        types = meta["config"]["types"]
        self.input_type = FixedType.parse(types["input"])
        self.output_type = FixedType.parse(types["output"])
        self.n_in, self.n_out = self._lib.qk_n_in(), self._lib.qk_n_out()
        self.n_params = int(self._lib.qk_n_params())
        self._lib.qk_n_counters.restype = ctypes.c_longlong
        self.n_counters = int(self._lib.qk_n_counters())

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "_dir", ""), ignore_errors=True)

    def run_raw(self, x_raw: np.ndarray, target_raw: np.ndarray, learn: np.ndarray | bool = True) -> np.ndarray:
        """Many samples in one call: x (n, inputs), target (n, outputs) raw -> y (n, outputs) raw."""
        x = np.ascontiguousarray(np.asarray(x_raw, dtype=np.int64).reshape(-1, self.n_in))
        t = np.ascontiguousarray(np.asarray(target_raw, dtype=np.int64).reshape(-1, self.n_out))
        n = x.shape[0]
        if t.shape[0] != n:
            raise ValueError(f"{n} inputs but {t.shape[0]} targets")
        self.input_type.check_raw(x, "input")
        self.output_type.check_raw(t, "target")
        lrn = np.ascontiguousarray(np.broadcast_to(np.asarray(learn, dtype=np.uint8), (n,)))
        y = np.zeros((n, self.n_out), dtype=np.int64)
        self._lib.qk_run(n, x.ctypes.data_as(_I64P), t.ctypes.data_as(_I64P),
                         lrn.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)), y.ctypes.data_as(_I64P))
        return y

    def step_raw(self, x_raw, target_raw, learn: bool = True) -> np.ndarray:
        return self.run_raw(x_raw, target_raw, learn)[0]

    def step(self, x, target, learn: bool = True) -> np.ndarray:
        y = self.step_raw(self.input_type.quantize(x), self.output_type.quantize(target), learn)
        return self.output_type.to_float(y)

    def flush(self) -> None:
        """Land every update still in flight (D > 0), as :meth:`OnlineLearner.flush` does."""
        self._lib.qk_flush()

    def param(self, addr: int, value: int | None = None) -> int:
        """Read (or write, when ``value`` is given) the raw bits of parameter ``addr`` through the
        firmware's parameter port; the C API refuses an address outside the parameters and counters."""
        out = ctypes.c_longlong(0)
        if self._lib.qk_param(int(addr), value is not None, 0 if value is None else int(value),
                              ctypes.byref(out)) != 0:
            raise ValueError(f"parameter address {addr} is outside 0..{self.n_params + self.n_counters - 1}")
        return int(out.value)

    def counters(self) -> list[int]:
        """The diagnostics counters (``OnlineLearner.diagnostics().hardware()``), read through the
        parameter port at the addresses after the parameters."""
        return [self.param(self.n_params + c) for c in range(self.n_counters)]

    def clear_counters(self) -> None:
        self.param(self.n_params, 0)

    def parameters(self) -> list[np.ndarray]:
        """Every parameter array read back through the firmware's parameter port (raw)."""
        out, addr = [], 0
        for p in self.meta["parameters"]:
            size = int(np.prod(p["shape"]))
            values = [self.param(a) for a in range(addr, addr + size)]
            out.append(np.array(values, dtype=np.int64).reshape(p["shape"]))
            addr += size
        return out

    def set_parameters(self, arrays: list[np.ndarray]) -> None:
        addr = 0
        for p, values in zip(self.meta["parameters"], arrays, strict=True):
            flat = np.asarray(values, dtype=np.int64).reshape(-1)
            if list(np.shape(values)) != p["shape"]:
                raise ValueError(f"parameter {p['name']} has shape {p['shape']}, got {list(np.shape(values))}")
            for a, v in enumerate(flat, addr):
                self.param(a, int(v))
            addr += flat.size


@dataclass
class CsimScore:
    """Golden model vs C simulation over one stream: every output, every parameter at checkpoints."""

    samples: int
    output_mismatches: int  # samples with any output different
    parameter_mismatches: int
    parameters_compared: int
    checkpoints: int
    changed: int  # parameters that differ from the start (the learner did learn)
    counter_mismatches: int = 0  # diagnostics counters that differ from the golden hardware view
    counters_compared: int = 0

    @property
    def ok(self) -> bool:
        return self.output_mismatches == 0 and self.parameter_mismatches == 0 and self.counter_mismatches == 0

    def summary(self) -> str:
        return (f"{'PASS' if self.ok else 'FAIL'}: {self.output_mismatches} output and {self.parameter_mismatches} "
                f"parameter mismatches over {self.samples} samples (every output; all {self.parameters_compared} "
                f"parameter values at {self.checkpoints} checkpoints; {self.changed} parameters learned; "
                f"{self.counter_mismatches} of {self.counters_compared} diagnostics counter values differ)")


def compare_stream(model: Model, project: str | Path, x_raw: np.ndarray, target_raw: np.ndarray,
                   learn: np.ndarray, *, lr: LearningRates, rounding: str = "type", seed: int = 0,
                   delay: int | Sequence[int] = 0, checkpoints: int = 4,
                   flags: tuple[str, ...] = ("-O2",)) -> CsimScore:
    """Export ``model`` (left untouched) to ``project``, compile it and stream raw samples through it
    and through the golden learner; after each of ``checkpoints`` chunks both drain their pending
    updates and every parameter is read back through the firmware's parameter port.

    Args:
        model: the model both start from.
        project: the folder the HLS project is written to.
        x_raw, target_raw, learn: the stream, (n, inputs) and (n, outputs) raw values and (n,) flags.
        lr, rounding, seed, delay: the learning settings, as for :class:`OnlineLearner`.
        checkpoints: how many times the parameters are compared (at the end of equal chunks).
        flags: g++ flags of the C simulation.

    Returns:
        The :class:`CsimScore`; ``ok`` when every output and parameter matched.
    """
    start = copy.deepcopy(model)
    golden_model = copy.deepcopy(model)
    golden = OnlineLearner(golden_model, lr=lr, rounding=rounding, seed=seed, delay=delay)
    compiled = compile(export(copy.deepcopy(model), project, lr=lr, rounding=rounding, seed=seed, delay=delay),
                       flags=flags)
    x = np.asarray(x_raw, np.int64).reshape(len(learn), -1)
    t = np.asarray(target_raw, np.int64).reshape(len(learn), -1)
    learn = np.asarray(learn, bool)
    outputs = params = compared = counter_bad = counter_total = 0
    chunks = [c for c in np.array_split(np.arange(len(x)), max(1, checkpoints)) if len(c)]
    for chunk in chunks:
        y_c = compiled.run_raw(x[chunk], t[chunk], learn[chunk])
        y_g = np.array([golden.step_raw(x[i], t[i], bool(learn[i])) for i in chunk])
        outputs += int(np.sum(np.any(y_c != y_g, axis=1)))
        golden.flush()
        compiled.flush()
        for got, want in zip(compiled.parameters(), golden_model.parameters(), strict=True):
            params += int(np.sum(got != want))
            compared += want.size
        want_counts = golden.diagnostics().hardware()
        counter_bad += sum(int(a != b) for a, b in zip(compiled.counters(), want_counts, strict=True))
        counter_total += len(want_counts)
    changed = sum(int(np.sum(a != b)) for a, b in zip(golden_model.parameters(), start.parameters()))
    return CsimScore(len(x), outputs, params, compared, len(chunks), changed, counter_bad, counter_total)

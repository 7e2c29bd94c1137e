"""HLS backend: the exported C++, compiled with g++ against hls4ml's ap_types, is the golden model.

Every output of every sample and every parameter at checkpoints must be equal, bit for bit.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from quantkan import hls
from quantkan.cli import main
from quantkan.cpp import ap_types_dir
from quantkan.golden import OnlineLearner
from quantkan.models import KAN, MLP
from quantkan.tasks import make_task
import random_configs
from unusual_models import UNUSUAL

CHECKPOINTS = 4


def compare(model, lr, rounding, project: Path, x_real: np.ndarray, t_real: np.ndarray, seed: int = 0,
            delay: int | list[int] = 0) -> hls.CsimScore:
    """Stream the samples through the compiled project and the golden learner; count mismatches."""
    x = model.types.input.quantize(x_real)
    t = model.types.output.quantize(t_real)
    learn = np.random.default_rng(seed).random(len(x)) > 0.1  # some samples only predict
    return hls.compare_stream(model, project, x, t, learn, lr=lr, rounding=rounding, seed=seed, delay=delay,
                              checkpoints=CHECKPOINTS)


def task_samples(task: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    stream = make_task(task, n=n, seed=seed)
    return stream.x, stream.target


CONFIGS = {
    "kan16-nearest-sat-stochastic": (lambda: KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=16),
                                     2.0 ** -4, "stochastic"),
    "kan12-trn-wrap-const-lr": (lambda: KAN([2, 3, 1], grid=(-1.0, 1.0, 5), order=2, lut_bits=6, bits=12,
                                            types={"coef": "ap_fixed<12,2,AP_TRN,AP_WRAP>",
                                                   "update": "ap_fixed<12,2,AP_TRN,AP_WRAP>",
                                                   "error": "ap_fixed<10,2,AP_TRN_ZERO,AP_WRAP>"}),
                                0.1, "type"),
    "mlp16-nearest-sat": (lambda: MLP([2, 8, 1], bits=16), 2.0 ** -4, "type"),
    "mlp10-wrap-stochastic": (lambda: MLP([2, 6, 3, 1], bits=10,
                                          types={"weight": "ap_fixed<10,2,AP_RND,AP_WRAP>",
                                                 "acc": "ap_fixed<14,4,AP_TRN,AP_WRAP>"}),
                              0.1, "stochastic"),
    "kan12-per-layer-lr": (lambda: KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=12), [0.1, 2.0 ** -3],
                           "stochastic"),
    "mlp12-per-layer-lr": (lambda: MLP([2, 6, 3, 1], bits=12), [2.0 ** -5, 0.1, 2.0 ** -3], "stochastic"),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_ten_thousand_samples_bit_exact(tmp_path, name):
    make, lr, rounding = CONFIGS[name]
    result = compare(make(), lr, rounding, tmp_path / "prj", *task_samples("drift2d", 10_000))
    assert result.ok, result
    assert result.parameters_compared > 0 and result.changed > 0
    assert result.counters_compared > 0  # the diagnostics counters, through the parameter port


def random_configuration_bit_exact(tmp_path: Path, seed: int, n: int) -> hls.CsimScore:
    """One random KAN or MLP (every type's signedness drawn, inputs up to 62 bits, D > 0), a
    stream with learn = 0 samples, inputs off the grid and saturating targets: bit-exact."""
    rng = np.random.default_rng(1000 + seed)
    config = random_configs.random_kan(rng) if seed % 3 != 2 else random_configs.random_mlp(rng)
    drive = random_configs.random_stream(config, n, seed)
    result = hls.compare_stream(config.make(), tmp_path / "prj", drive.x, drive.target, drive.learn, lr=config.lr,
                                rounding=config.rounding, seed=seed, delay=config.delay, checkpoints=3)
    assert result.ok and result.counters_compared > 0, (config, result)
    return result


@pytest.mark.parametrize("seed", range(4))
def test_random_configurations(tmp_path, seed):
    random_configuration_bit_exact(tmp_path, seed, 400)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4, 64))
def test_more_random_configurations(tmp_path, seed):
    random_configuration_bit_exact(tmp_path, seed, 3000)


def test_a_wrong_rounding_mode_in_one_cast_is_caught(tmp_path):
    """Break the emitter in one place (the error cast rounds differently): the comparison must see it."""
    model = KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=12)
    project = tmp_path / "prj"
    good = compare(model, 2.0 ** -4, "type", project, *task_samples("drift2d", 2000))
    assert good.ok
    defines = project / "firmware" / "defines.h"
    text = defines.read_text()
    broken = re.sub(r"typedef ap_fixed<(\d+),(\d+),AP_RND_CONV,AP_SAT> qk_error_t;",
                    r"typedef ap_fixed<\1,\2,AP_TRN,AP_SAT> qk_error_t;", text)
    assert broken != text
    defines.write_text(broken)
    compiled = hls.compile(project)
    stream = make_task("drift2d", n=2000)
    model2 = KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=12)
    golden = OnlineLearner(model2, lr=2.0 ** -4)
    x, t = model2.types.input.quantize(stream.x), model2.types.output.quantize(stream.target)
    y_c = compiled.run_raw(x, t, True)
    y_g = np.array([golden.step_raw(a, b) for a, b in zip(x, t)])
    assert np.sum(y_c != y_g) > 0


def test_build_tcl_references_existing_files(tmp_path):
    model = MLP([2, 4, 1])
    stream = (model.types.input.quantize(np.zeros((3, 2))), model.types.output.quantize(np.zeros((3, 1))),
              np.ones(3, bool))
    out = hls.export(model, tmp_path / "prj", part="xczu7ev-ffvc1156-2-e", clock_ns=3.3, stream=stream)
    tcl = (out / "build.tcl").read_text()
    files = re.findall(r"^add_files(?: -tb)? (\S+)", tcl, re.M)
    assert "firmware/quantkan_top.cpp" in files and "tb/tb_quantkan.cpp" in files
    assert "tb_data/stream.txt" in files
    for f in files:
        assert (out / f).is_file(), f
    assert re.search(r"^set_top quantkan_top$", tcl, re.M)
    assert "void quantkan_top(" in (out / "firmware" / "quantkan_top.cpp").read_text()
    assert re.search(r"^set_part \{xczu7ev-ffvc1156-2-e\}$", tcl, re.M)
    assert re.search(r"^create_clock -period 3.3 ", tcl, re.M)
    for step in ("csim_design", "csynth_design", "cosim_design", "export_design -format ip_catalog"):
        assert step in tcl
    includes = re.findall(r'#include "([^"]+)"', "".join(p.read_text() for p in (out / "firmware").iterdir()))
    for inc in includes:
        assert (out / "firmware" / inc).is_file(), inc


def test_cpp_testbench_replays_the_golden_stream(tmp_path, capsys):
    out = tmp_path / "prj"
    examples = Path(__file__).resolve().parent.parent / "examples"
    assert main(["export", "hls", str(examples / "drift_kan.toml"), "-o", str(out), "--samples", "300"]) == 0
    assert "vitis_hls -f build.tcl" in capsys.readouterr().out
    exe = tmp_path / "tb"
    subprocess.run(["g++", "-std=c++14", "-O1", "-I", str(out / "firmware"), "-I", str(ap_types_dir()),
                    str(out / "tb" / "tb_quantkan.cpp"), str(out / "firmware" / "quantkan_top.cpp"),
                    "-o", str(exe)], check=True)
    done = subprocess.run([str(exe)], cwd=out, capture_output=True, text=True)
    assert done.returncode == 0 and "300 samples, 0 mismatches" in done.stdout
    expected = out / "tb_data" / "expected.txt"
    lines = expected.read_text().splitlines()
    lines[10] = str(int(lines[10]) + 1)
    expected.write_text("\n".join(lines) + "\n")
    done = subprocess.run([str(exe)], cwd=out, capture_output=True, text=True)
    assert done.returncode == 1 and "1 mismatches" in done.stdout


def test_bad_export_arguments(tmp_path):
    model = KAN([1, 1])
    with pytest.raises(ValueError, match="clock period must be a positive"):
        hls.export(model, tmp_path / "a", clock_ns=0)
    with pytest.raises(ValueError, match="part must be a Xilinx part name"):
        hls.export(model, tmp_path / "b", part=" ")
    with pytest.raises(ValueError, match="not a quantkan HLS project"):
        hls.compile(tmp_path)


def test_parameters_load_through_the_port(tmp_path):
    model = KAN([1, 2], bits=12)
    compiled = hls.compile(hls.export(model, tmp_path / "prj"))
    params = [p + 1 for p in model.parameters()]
    compiled.set_parameters(params)
    assert all(np.array_equal(a, b) for a, b in zip(compiled.parameters(), params))
    with pytest.raises(ValueError, match="has shape"):
        compiled.set_parameters([np.zeros((1, 1, 1))])


# -- issue 13: signedness at every boundary, wide inputs, the parameter port --------------------

@pytest.mark.parametrize("name", UNUSUAL)
def test_unsigned_and_wide_types_bit_exact(tmp_path, name):
    """Raw bits cross the C API, the grid lookup and the parameter port with their own type's
    signedness (an ap_ufixed value with its top bit set is not negative), and a 48-bit input
    locates exactly."""
    make, x_range, t_range = UNUSUAL[name]
    model = make()
    rng = np.random.default_rng(13)
    x = rng.uniform(*x_range, (1500, model.layers[0]))
    t = rng.uniform(*t_range, (1500, model.layers[-1]))
    result = compare(model, 2.0 ** -4, "type", tmp_path / "prj", x, t)
    assert result.ok, result


def _large_model() -> KAN:
    return KAN([1, 260], grid=(-1.0, 1.0, 253), order=3, bits=10)  # 66,560 coefficients


def test_parameter_port_is_sized_from_the_model(tmp_path):
    """The port's address is as wide as the model needs: 17 bits for 66,560 parameters (it was
    16, so the last 1,024 were out of reach), 4 bits for 6 and the 7 diagnostics counters."""
    for model, bits in ((_large_model(), 17), (KAN([1, 2], grid=(-1.0, 1.0, 1), order=2), 4)):
        out = hls.export(model, tmp_path / str(bits))
        defines = (out / "firmware" / "defines.h").read_text()
        n = sum(p.size for p in model.parameters())
        assert f"#define N_PARAMS {n}LL" in defines
        assert f"typedef ap_uint<{bits}> qk_param_addr_t;" in defines
        assert "qk_param_addr_t param_addr" in (out / "firmware" / "quantkan_top.h").read_text()


@pytest.mark.slow
def test_parameter_port_reaches_every_parameter_of_a_large_model(tmp_path):
    """More than 65,536 parameters, compiled (g++ takes minutes on the 66,560 initializers): the
    last ones are reachable and address 65536 + k is not parameter k."""
    model = _large_model()
    n = sum(p.size for p in model.parameters())
    assert n > 1 << 16
    compiled = hls.compile(hls.export(model, tmp_path / "prj"), flags=("-O0",))
    assert compiled.n_params == n
    coef_t = model.types.coef
    for addr in (0, 5, (1 << 16) - 1):
        compiled.param(addr, coef_t.min_raw)
    for addr in (1 << 16, (1 << 16) + 5, n - 1):
        compiled.param(addr, coef_t.max_raw)
    assert [compiled.param(a) for a in (0, 5, (1 << 16) - 1)] == [coef_t.min_raw] * 3
    assert [compiled.param(a) for a in (1 << 16, (1 << 16) + 5, n - 1)] == [coef_t.max_raw] * 3
    flat = compiled.parameters()[0].reshape(-1)
    assert flat[n - 1] == coef_t.max_raw and flat[5] == coef_t.min_raw


def test_out_of_range_parameter_addresses_are_refused(tmp_path):
    model = KAN([1, 2], bits=12)
    compiled = hls.compile(hls.export(model, tmp_path / "prj"))
    n = sum(p.size for p in model.parameters()) + 7  # the parameters, then the diagnostics counters
    assert compiled.param(0) == model.coefficients[0].reshape(-1)[0]
    for addr in (n, 1 << 16, (1 << 16) + 1, -1):
        with pytest.raises(ValueError, match=rf"parameter address {addr} is outside 0\.\.{n - 1}"):
            compiled.param(addr)
    text = (tmp_path / "prj" / "firmware" / "defines.h").read_text()
    assert f"typedef ap_uint<{(n - 1).bit_length()}> qk_param_addr_t;" in text


# -- issue 13: the update delay D -----------------------------------------------------------------

@pytest.mark.parametrize("make,delay,rounding,lr", [
    (lambda: KAN([2, 3, 1], grid=(-1.0, 1.0, 6), order=2, bits=12), [5, 2], "stochastic", 2.0 ** -3),
    (lambda: MLP([2, 5, 1], bits=12), [3, 1], "type", 0.1),
])
def test_update_delay_bit_exact(tmp_path, make, delay, rounding, lr):
    """The firmware lands each update D calls late, as the golden pipeline does; MODE_FLUSH drains it."""
    rng = np.random.default_rng(5)
    model = make()
    x, t = rng.uniform(-1.2, 1.2, (800, model.layers[0])), rng.uniform(-2.0, 2.0, (800, model.layers[-1]))
    result = compare(model, lr, rounding, tmp_path / "prj", x, t, delay=delay)
    assert result.ok and result.changed > 0, result
    # the delay is real: on this stream plain SGD (D = 0) gives other outputs than the D the firmware matched
    x_raw, t_raw = model.types.input.quantize(x), model.types.output.quantize(t)
    delayed = OnlineLearner(make(), lr=lr, rounding=rounding, delay=delay)
    plain = OnlineLearner(make(), lr=lr, rounding=rounding)
    assert any(np.any(delayed.step_raw(a, b) != plain.step_raw(a, b)) for a, b in zip(x_raw, t_raw))


def test_hls_with_the_rtl_delays_matches_the_pipelined_rtl(tmp_path):
    """HLS exported with the D the pipelined RTL reports gives the RTL's outputs, sample for sample,
    and the same coefficients (a sample every cycle, so sample index = arrival cycle)."""
    from quantkan.rtl import simulate, verify
    from quantkan.rtl.kan import KANLearner

    def make():
        return KAN([2, 3, 1], grid=(-1.0, 1.0, 5), order=2, lut_bits=6, bits=12)

    dut = KANLearner(make(), schedule="pipelined", lr=2.0 ** -3)
    assert min(dut.timing.delays) > 0
    drive = verify.random_drive(make(), 300, seed=4, checkpoints=1)
    observed = simulate.run(dut, drive)
    assert (np.diff(observed.accept_cycles) == 1).all()
    compiled = hls.compile(hls.export(make(), tmp_path / "prj", lr=2.0 ** -3, delay=dut.timing.delays))
    y = compiled.run_raw(drive.x, drive.target, drive.learn)
    np.testing.assert_array_equal(y, observed.y)
    compiled.flush()
    np.testing.assert_array_equal(compiled.parameters()[0], observed.params[-1][0])
    np.testing.assert_array_equal(compiled.parameters()[1], observed.params[-1][1])
    assert np.any(observed.params[-1][0] != make().coefficients[0])


def test_parameters_wider_than_a_double_initialize_exactly(tmp_path):
    """A 58-bit coefficient holds values a double cannot: the firmware's initial values are exact
    (they were written as doubles, which rounded away the low bits)."""
    model = KAN([1, 1], grid=(-1.0, 1.0, 4), order=1, lut_bits=3,
                types={"coef": "ap_fixed<58,3>", "basis": "ap_ufixed<2,1>", "deriv": "ap_fixed<3,3>"})
    coef_t = model.types.coef
    model.coefficients[0][0, 0] = [(1 << 56) + 12345, -(1 << 56) - 777, coef_t.max_raw, coef_t.min_raw + 3, 1]
    compiled = hls.compile(hls.export(model, tmp_path / "prj"))
    np.testing.assert_array_equal(compiled.parameters()[0], model.coefficients[0])


def test_export_hls_takes_the_configs_delay(tmp_path, capsys):
    """quantkan export hls used to ignore [learning] delay (the firmware could not express D > 0)."""
    examples = Path(__file__).resolve().parent.parent / "examples"
    config = tmp_path / "delayed.toml"
    config.write_text((examples / "drift_kan.toml").read_text().replace("[learning]\n", "[learning]\ndelay = 3\n"))
    out = tmp_path / "prj"
    assert main(["export", "hls", str(config), "-o", str(out), "--samples", "50"]) == 0
    assert json.loads((out / "quantkan.json").read_text())["delay"] == [3]
    top = (out / "firmware" / "quantkan_top.cpp").read_text()
    assert "line0[3];  // D = 3" in top and "quantkan::delay_line<3>(line0, upd0)" in top


# -- the diagnostics counters (quantkan.diagnostics) ----------------------------------------------
@pytest.mark.parametrize("mutation", [("quantkan::overflows<qk_error_t>(y[j] - target[j])", "false"),
                                      ("quantkan::count(diag_learned, learn);", "")])
def test_a_wrong_counter_in_the_firmware_is_caught(tmp_path, monkeypatch, mutation):
    """The counters read through the C API's parameter port match golden; a firmware that misses
    the output error's overflow (or the learning samples) is caught, its outputs still exact."""
    from quantkan.hls import emit

    rng = np.random.default_rng(1000)
    config = random_configs.random_kan(rng)
    drive = random_configs.random_stream(config, 300, 0)

    def run() -> hls.CsimScore:
        return hls.compare_stream(config.make(), tmp_path / "prj", drive.x, drive.target, drive.learn, lr=config.lr,
                                  rounding=config.rounding, seed=0, delay=config.delay, checkpoints=2)

    good = run()
    assert good.ok and good.counters_compared == 2 * (2 + 5 * (len(config.make().layers) - 1)), good
    real = emit._top_source
    monkeypatch.setattr(emit, "_top_source", lambda *a: real(*a).replace(*mutation))
    bad = run()
    assert bad.output_mismatches == 0 and bad.parameter_mismatches == 0 and bad.counter_mismatches > 0, bad

"""The compiled engine is the golden learner, bit for bit: every output, every parameter.

Random configurations (KAN and MLP, every rounding and overflow mode, constant and
power-of-two learning rates, stochastic rounding, per-layer delays, samples that only
predict), populations of mixed learners, and mutations: a wrong cast must be caught.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

from quantkan import engine_kernels as kernels  # noqa: E402
from quantkan import fixed  # noqa: E402
from quantkan.engine import (EngineLearner, EngineUnsupported, Population, cast_descriptor,  # noqa: E402
                             make_learner)
from quantkan.fixed import FixedType, Overflow, Rounding  # noqa: E402
from quantkan.golden import OnlineLearner  # noqa: E402
from quantkan.models import KAN, MLP, model_from_config  # noqa: E402

MODES = [f"{r.value},{o.value}" for r in Rounding for o in Overflow]


def random_setup(rng: np.random.Generator) -> tuple[dict, dict]:
    """(model config, learning settings): any mode, depth 1-3, delays, constant lr, stochastic."""
    bits = int(rng.integers(6, 19))
    mode = str(rng.choice(MODES))
    depth = int(rng.integers(1, 4))
    layers = [int(rng.integers(1, 4))] + [int(rng.integers(1, 5)) for _ in range(depth - 1)] + [int(rng.integers(1, 3))]
    if rng.random() < 0.6:
        types = {"coef": f"ap_fixed<{bits},3,{mode}>", "update": f"ap_fixed<{bits},3,{mode}>",
                 "error": f"ap_fixed<{bits},3,{rng.choice(MODES)}>"}
        if rng.random() < 0.4:
            types["acc"] = f"ap_fixed<{bits + 6},6,{rng.choice(MODES)}>"
        config = {"kind": "kan", "layers": layers, "grid": [-1.0, 1.0, int(rng.integers(3, 17))],
                  "order": int(rng.integers(1, 4)), "lut_bits": int(rng.integers(3, 9)), "bits": bits, "types": types}
    else:
        types = {"weight": f"ap_fixed<{bits},2,{mode}>", "bias": f"ap_fixed<{bits},2,{rng.choice(MODES)}>"}
        if rng.random() < 0.4:
            types["hidden"] = f"ap_ufixed<{bits},2,{rng.choice(MODES)}>"
        if rng.random() < 0.4:
            types["acc"] = f"ap_fixed<{bits + 4},5,{rng.choice(MODES)}>"
        config = {"kind": "mlp", "layers": layers, "bits": bits, "types": types}
    delay = [int(rng.integers(0, 4)) for _ in range(depth)] if rng.random() < 0.5 else 0
    learning = {"lr": float(rng.choice([2.0 ** -2, 2.0 ** -5, 0.3, 0.07])), "delay": delay,
                "rounding": str(rng.choice(["type", "stochastic"])), "seed": int(rng.integers(1000))}
    return config, learning


def random_stream(model, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw inputs over and beyond the grid, targets beyond the output range, ~10% predict-only."""
    x = model.types.input.quantize(rng.uniform(-1.3, 1.3, (n, model.layers[0])))
    t = model.types.output.quantize(rng.uniform(-5.0, 5.0, (n, model.layers[-1])))
    return x, t, rng.random(n) > 0.1


def mismatches(config: dict, learning: dict, n: int, seed: int, chunks: int = 3,
               mutate=None) -> dict[str, int]:
    """Golden vs engine over one stream in ``chunks`` calls; parameters compared after each."""
    rng = np.random.default_rng(seed)
    golden_model = model_from_config(config, seed=learning["seed"])
    engine_model = model_from_config(config, seed=learning["seed"])
    golden = OnlineLearner(golden_model, **learning)
    engine = EngineLearner(engine_model, **learning)
    if mutate is not None:
        mutate(engine.population)
    x, t, learn = random_stream(golden_model, n, rng)
    outputs = params = diagnostics = 0
    counted = np.zeros(7, np.int64)  # which counters were non-zero somewhere (the comparison covered them)
    for chunk in np.array_split(np.arange(n), chunks):
        y_e = engine.run_raw(x[chunk], t[chunk], learn[chunk])
        y_g = np.array([golden.step_raw(x[i], t[i], bool(learn[i])) for i in chunk])
        outputs += int(np.sum(y_e != y_g))
        golden.flush()
        engine.flush()
        params += sum(int(np.sum(a != b)) for a, b in zip(golden_model.parameters(), engine_model.parameters()))
        want, got = golden.diagnostics(), engine.diagnostics()
        diagnostics += int(want != got)
        layer_counts = np.array([[c.attempted, c.zero, c.param_sat, c.out_sat, c.err_sat] for c in want.layers])
        counted[:5] += (layer_counts > 0).any(axis=0)
    moved = sum(int(np.sum(a != b)) for a, b in
                zip(golden_model.parameters(), model_from_config(config, seed=learning["seed"]).parameters()))
    return {"outputs": outputs, "params": params, "params_moved": moved, "diagnostics": diagnostics,
            "counters_hit": counted[:5].astype(bool).tolist()}


# -- the cast primitive ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_cast_matches_fixed_cast(mode):
    """Every rounding x overflow mode, narrowing, widening and same-frac casts, edge raws included."""
    rng = np.random.default_rng(7)
    checked = 0
    for src, dst_shape in [(FixedType(20, 6), (8, 3)), (FixedType(12, 2, False), (16, 1)),
                           (FixedType(10, 4), (10, 4)), (FixedType(30, 2), (6, 6)), (FixedType(8, 1), (40, 12))]:
        dst = FixedType(*dst_shape, signed=bool(rng.random() < 0.8), rounding=mode.split(",")[0],
                        overflow=mode.split(",")[1])
        raw = np.concatenate([rng.integers(src.min_raw, src.max_raw + 1, 300),
                              [src.min_raw, src.max_raw, 0, -1, 1]]).astype(np.int64)
        raw = raw[src.in_range(raw)]
        want = fixed.cast(raw, src, dst)
        d = cast_descriptor(src, dst)
        got = np.array([kernels.cast(np.int64(r), d) for r in raw])
        assert np.array_equal(got, want), (src, dst)
        checked += raw.size
    assert checked > 1000


# -- learners --------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(16))
def test_random_configurations_bit_exact(seed):
    config, learning = random_setup(np.random.default_rng(seed))
    result = mismatches(config, learning, n=360, seed=seed)
    assert result["outputs"] == 0 and result["params"] == 0, (config, learning, result)
    assert result["diagnostics"] == 0, (config, learning, result)


def test_random_configurations_exercise_every_diagnostics_counter():
    """Across the random configurations, every counter was non-zero somewhere, so the equality above
    compared real counts (attempted, zero, parameter, output and error overflows)."""
    hit = np.zeros(5, bool)
    for seed in range(16):
        config, learning = random_setup(np.random.default_rng(seed))
        hit |= mismatches(config, learning, n=360, seed=seed, chunks=1)["counters_hit"]
    assert hit.all(), hit


@pytest.mark.parametrize("mode", MODES[::5])
def test_cast_flagged_matches_fixed(mode):
    rng = np.random.default_rng(8)
    for src, dst in [(FixedType(20, 6), FixedType(8, 3, True, *mode.split(","))),
                     (FixedType(8, 1), FixedType(12, 6, False, *mode.split(",")))]:
        raw = rng.integers(src.min_raw, src.max_raw + 1, 300)
        want_v, want_f = fixed.cast_flagged(raw, src, dst)
        got = [kernels.cast_flagged(np.int64(r), cast_descriptor(src, dst)) for r in raw]
        assert [int(v) for v, _ in got] == want_v.tolist() and [bool(f) for _, f in got] == want_f.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_long_streams_bit_exact(seed):
    config, learning = random_setup(np.random.default_rng(100 + seed))
    result = mismatches(config, learning, n=20_000, seed=seed, chunks=5)
    assert result["outputs"] == 0 and result["params"] == 0, (config, learning, result)
    assert result["params_moved"] > 0


FIXED_CASES = {
    "kan16-nearest-sat": ({"kind": "kan", "layers": [2, 4, 1], "bits": 16},
                          {"lr": 2.0 ** -4, "delay": 0, "rounding": "type", "seed": 0}),
    "kan12-stochastic-delay-const-lr": ({"kind": "kan", "layers": [2, 3, 1], "grid": [-1.0, 1.0, 5], "order": 2,
                                         "lut_bits": 6, "bits": 12}, {"lr": 0.3, "delay": [3, 1],
                                                                      "rounding": "stochastic", "seed": 4}),
    "kan12-unsigned-input": ({"kind": "kan", "layers": [2, 3, 1], "grid": [0.0, 1.0, 8], "bits": 12,
                              "types": {"input": "ap_ufixed<12,1,AP_RND_CONV,AP_SAT>"}},
                             {"lr": 2.0 ** -3, "delay": 1, "rounding": "stochastic", "seed": 2}),
    "kan12-unsigned-output-coef": ({"kind": "kan", "layers": [1, 2, 1], "bits": 12,
                                    "types": {"output": "ap_ufixed<12,1,AP_RND_CONV,AP_SAT>",
                                              "coef": "ap_ufixed<12,2,AP_RND_CONV,AP_SAT>"}},
                                   {"lr": 0.125, "delay": [0, 2], "rounding": "stochastic", "seed": 0}),
    "mlp12-unsigned-output-hidden": ({"kind": "mlp", "layers": [2, 4, 1], "bits": 12,
                                      "types": {"output": "ap_ufixed<12,1,AP_RND_CONV,AP_SAT>",
                                                "hidden": "ap_ufixed<12,2,AP_TRN,AP_SAT>"}},
                                     {"lr": 0.125, "delay": 0, "rounding": "type", "seed": 0}),
    "mlp10-wrap-stochastic-delay": ({"kind": "mlp", "layers": [2, 6, 3, 1], "bits": 10,
                                     "types": {"weight": "ap_fixed<10,2,AP_RND,AP_WRAP>",
                                               "acc": "ap_fixed<14,4,AP_TRN,AP_WRAP>"}},
                                    {"lr": 0.1, "delay": 2, "rounding": "stochastic", "seed": 1}),
    "kan12-per-layer-lr-shift-and-constant": ({"kind": "kan", "layers": [2, 3, 1], "bits": 12},
                                              {"lr": [2.0 ** -5, 0.3], "delay": [1, 0], "rounding": "stochastic",
                                               "seed": 6}),
    "mlp12-per-layer-lr": ({"kind": "mlp", "layers": [2, 5, 3, 1], "bits": 12},
                           {"lr": [0.07, 2.0 ** -3, 2.0 ** -6], "delay": 0, "rounding": "stochastic", "seed": 2}),
}


@pytest.mark.parametrize("name", FIXED_CASES)
def test_known_configurations_bit_exact_and_learning(name):
    config, learning = FIXED_CASES[name]
    result = mismatches(config, learning, n=1500, seed=3)
    assert {k: result[k] for k in ("outputs", "params", "diagnostics")} == {"outputs": 0, "params": 0,
                                                                           "diagnostics": 0}
    assert result["params_moved"] > 0  # the comparison covered parameters that changed


MUTATIONS = {  # name: (the cast descriptor to break, extra types)
    "acc": (lambda pop: pop.casts[:, -1, kernels.ACC], {"acc": "ap_fixed<18,5,AP_RND_CONV,AP_SAT>"}),
    "out": (lambda pop: pop.casts[:, -1, kernels.OUT], None),
    "slope": (lambda pop: pop.casts[:, -1, kernels.SLOPE], None),
    "back": (lambda pop: pop.casts[:, -1, kernels.BACK], None),
    "delta": (lambda pop: pop.casts[:, 0, 5], None),
    "apply": (lambda pop: pop.casts[:, 0, 6], None),
    "error": (lambda pop: pop.err_cast, None),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_wrong_cast_in_the_engine_is_caught(name):
    descriptor, types = MUTATIONS[name]

    def mutate(pop: Population) -> None:
        descriptor(pop)[..., 0] += 1  # the cast keeps one bit too few

    config = {"kind": "kan", "layers": [2, 3, 1], "bits": 12, **({"types": types} if types else {})}
    learning = {"lr": 2.0 ** -3, "delay": 0, "rounding": "type", "seed": 0}
    assert mismatches(config, learning, n=300, seed=1)["outputs"] == 0
    broken = mismatches(config, learning, n=300, seed=1, mutate=mutate)
    assert broken["outputs"] + broken["params"] > 0, name


def test_population_of_mixed_learners_matches_each_golden_learner():
    """Different seeds, bits, learning rates, delays and roundings, each on its own stream."""
    settings = [(16, 2.0 ** -4, 0, "type"), (10, 0.3, [2, 0], "stochastic"), (12, 2.0 ** -3, 1, "stochastic"),
                (8, 0.07, [0, 3], "type")]
    rng = np.random.default_rng(5)
    n = 400
    goldens, engines, streams = [], [], []
    for seed, (bits, lr, delay, rounding) in enumerate(settings):
        make = lambda: KAN([2, 3, 1], grid=(-1.0, 1.0, 6), order=3, bits=bits, seed=seed)  # noqa: E731
        goldens.append(OnlineLearner(make(), lr=lr, delay=delay, rounding=rounding, seed=seed))
        engines.append(OnlineLearner(make(), lr=lr, delay=delay, rounding=rounding, seed=seed))
        streams.append(random_stream(goldens[-1].model, n, rng))
    learn = streams[0][2]
    pop = Population(engines)
    y = pop.run_raw(np.stack([s[0] for s in streams]), np.stack([s[1] for s in streams]), learn)
    pop.flush()
    for p, (golden, (x, t, _)) in enumerate(zip(goldens, streams)):
        want = np.array([golden.step_raw(a, b, bool(k)) for a, b, k in zip(x, t, learn)])
        golden.flush()
        assert np.array_equal(y[p], want), p
        assert pop.diagnostics(p) == golden.diagnostics(), p
        for a, b in zip(golden.model.parameters(), engines[p].model.parameters()):
            assert np.array_equal(a, b), p


def test_population_of_one_shared_stream_mlp():
    goldens = [OnlineLearner(MLP([2, 5, 1], bits=12, seed=s), lr=2.0 ** -3, seed=s) for s in range(3)]
    pop = Population([OnlineLearner(MLP([2, 5, 1], bits=12, seed=s), lr=2.0 ** -3, seed=s) for s in range(3)])
    x, t, learn = random_stream(goldens[0].model, 300, np.random.default_rng(2))
    y = pop.run_raw(x, t, learn)
    for p, golden in enumerate(goldens):
        assert np.array_equal(y[p], [golden.step_raw(a, b, bool(k)) for a, b, k in zip(x, t, learn)])


def test_population_refuses_mixed_shapes_and_other_objects():
    with pytest.raises(ValueError, match=r"learner 1 is \('kan', \(2, 4, 1\)"):
        Population([OnlineLearner(KAN([2, 3, 1])), OnlineLearner(KAN([2, 4, 1]))])
    with pytest.raises(TypeError, match="population members must be golden OnlineLearners, not KAN"):
        Population([KAN([2, 3, 1])])
    with pytest.raises(ValueError, match="a population needs at least one learner"):
        Population([])
    busy = OnlineLearner(KAN([1, 1]), delay=2)
    busy.step_raw(np.array([0]), np.array([5]))
    with pytest.raises(ValueError, match=r"no pending updates: call flush\(\) first"):
        Population([busy])


def test_bad_stream_shapes_and_values():
    learner = EngineLearner(KAN([2, 3, 1], bits=8))
    with pytest.raises(ValueError, match="expected 2 inputs and 1 targets per sample, got 3 and 1"):
        learner.population.run_raw(np.zeros((4, 3), np.int64), np.zeros((4, 1), np.int64))
    with pytest.raises(ValueError, match=r"input 500 is outside ap_fixed<8,"):
        learner.run_raw(np.full((4, 2), 500), np.zeros((4, 1), np.int64))


def test_without_numba_auto_is_golden(monkeypatch):
    import quantkan.engine as engine

    monkeypatch.setattr(engine, "available", lambda: False)
    assert isinstance(make_learner(KAN([1, 1], bits=12), "auto"), OnlineLearner)
    with pytest.raises(EngineUnsupported, match=r"needs numba: pip install 'quantkan\[engine\]'"):
        make_learner(KAN([1, 1], bits=12), "compiled")


def test_make_learner_picks_and_falls_back():
    wide = {"input": "ap_fixed<24,4,AP_RND_CONV,AP_SAT>"}
    assert isinstance(make_learner(KAN([1, 1], bits=12), "auto"), EngineLearner)
    assert isinstance(make_learner(KAN([1, 1], bits=12), "numpy"), OnlineLearner)
    assert isinstance(make_learner(KAN([1, 1], types=wide), "auto"), OnlineLearner)
    with pytest.raises(EngineUnsupported, match="24 bits wide"):
        make_learner(KAN([1, 1], types=wide), "compiled")
    with pytest.raises(ValueError, match="engine must be one of"):
        make_learner(KAN([1, 1]), "fast")


def test_import_quantkan_stays_light():
    """numba and dask load only when an engine or a sweep is built."""
    code = ("import sys, quantkan, quantkan.train, quantkan.cli; quantkan.cli.build_parser(); "
            "print(sorted(m for m in ('numba', 'dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("kind", ["kan", "mlp"])
def test_train_gives_the_same_result_on_either_engine(kind, capsys):
    from quantkan.cli import main
    from quantkan.tasks import make_task
    from quantkan.train import default_model_config, train

    stream = make_task("drift2d", n=2500, seed=2)
    config = default_model_config(kind, 2, 1)
    results = {}
    for engine in ("numpy", "compiled"):
        model = model_from_config({**config, "bits": 10})
        results[engine] = (train(model, stream, lr=2.0 ** -3, delay=1, rounding="stochastic", twin=engine == "numpy",
                                 show_progress=False, engine=engine), model)
    (golden, g_model), (compiled, c_model) = results["numpy"], results["compiled"]
    assert isinstance(golden.learner, OnlineLearner) and isinstance(compiled.learner, EngineLearner)
    assert np.array_equal(golden.fixed, compiled.fixed)
    assert all(np.array_equal(a, b) for a, b in zip(g_model.parameters(), c_model.parameters()))
    printed = []
    for engine in ("numpy", "compiled"):
        assert main(["train", "--task", "drift", "--kind", kind, "--n", "400", "--quiet", "--engine", engine]) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1]


def test_one_compiled_loop_per_kind():
    """Read-only inputs, learn flags or not, flush: one numba signature each, so one compile
    (and one cache entry that every sweep worker loads)."""
    x = np.zeros((5, 1), np.int64)
    x.setflags(write=False)
    for model in (KAN([1, 1]), MLP([1, 2, 1])):
        learner = EngineLearner(model, delay=1)
        learner.run_raw(x, x)
        learner.run_raw(x, x, np.ones(5, bool))
        learner.flush()
    assert len(kernels.run_kan.signatures) == 1 and len(kernels.run_mlp.signatures) == 1


def test_ctrl_c_on_the_engine_stops_between_chunks_and_keeps_what_was_learned(tmp_path, monkeypatch, capsys):
    import json
    import os
    import signal

    from quantkan.cli import main
    from quantkan.train import ENGINE_CHUNK

    run_raw, calls = EngineLearner.run_raw, [0]

    def run_then_ctrl_c(self, x, t, learn=True):
        calls[0] += 1
        if calls[0] == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during the first chunk
        return run_raw(self, x, t, learn)
    monkeypatch.setattr(EngineLearner, "run_raw", run_then_ctrl_c)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--task", "drift", "--n", "5000", "--quiet", "--no-twin", "--engine", "compiled"]) == 130
    assert f"interrupted after {ENGINE_CHUNK} of 5000 samples" in capsys.readouterr().err
    record = json.loads((tmp_path / "drift.interrupted.json").read_text())
    assert record["results"]["samples"] == ENGINE_CHUNK and record["results"]["interrupted"]


def test_each_layer_uses_its_own_learning_rate():
    """The per-layer case is bit-exact only because the engine multiplies by each layer's own rate:
    giving layer 0 the last layer's constant is caught."""
    config, learning = FIXED_CASES["kan12-per-layer-lr-shift-and-constant"]

    def one_rate(pop: Population) -> None:
        pop.lr_mul[:, 0] = pop.lr_mul[:, -1]

    assert mismatches(config, learning, n=300, seed=1)["outputs"] == 0
    broken = mismatches(config, learning, n=300, seed=1, mutate=one_rate)
    assert broken["outputs"] + broken["params"] > 0

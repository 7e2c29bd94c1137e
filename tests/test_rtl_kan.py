"""The Amaranth KAN learner against the golden model, in amaranth.sim: bit for bit.

Every output and, after draining, every coefficient read back through the parameter
port must equal the golden learner run with the D the generator reports (and the
arrival cycle of each sample, so gaps in valid stay exact).
"""

from __future__ import annotations

import numpy as np
import pytest

from quantkan.models import KAN
from quantkan.rtl import simulate, update, verify
from quantkan.rtl.kan import READ_LATENCY, KANLearner, timing_of
from quantkan.rtl.verify import read_cycles, read_words
import random_configs
from unusual_models import UNUSUAL


def compare(make, schedule: str, n: int, seed: int = 0, lr: float | list[float] = 2.0 ** -4, rounding: str = "type",
            gaps: bool = False, checkpoints: int = 2, pipeline: str = "deep") -> verify.Score:
    model = make()
    dut = KANLearner(model, schedule=schedule, lr=lr, rounding=rounding, seed=seed, pipeline=pipeline)
    drive = verify.random_drive(model, n, seed=seed, gaps=gaps, checkpoints=checkpoints)
    observed = simulate.run(dut, drive)
    return verify.score(make(), drive, observed, dut.timing.delays, lr, rounding, seed)


def assert_exact(r: verify.Score, timing, *context) -> None:
    assert r.output_mismatches == 0 and r.coefficient_mismatches == 0, (*context, r)
    assert r.counter_mismatches == 0 and r.counters_compared > 0, (*context, r)  # the diagnostics counters
    assert r.latency_constant and r.latency == timing.latency, (r, timing)


def kan_241():
    return KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=16)


@pytest.mark.parametrize("schedule,rounding,gaps,pipeline", [
    ("pipelined", "type", False, "deep"), ("pipelined", "stochastic", True, "deep"), ("sequential", "type", False, "deep"),
    ("pipelined", "stochastic", True, "shallow"), ("pipelined", "stochastic", True, "deeper")])
def test_default_shape_bit_exact(schedule, rounding, gaps, pipeline):
    timing = timing_of(kan_241(), schedule, pipeline=pipeline)
    r = compare(kan_241, schedule, n=150 if schedule == "sequential" else 400, rounding=rounding, gaps=gaps,
                pipeline=pipeline)
    assert_exact(r, timing)
    assert r.changed > 0  # the learner did learn: the comparison is not of untouched memories
    assert r.ii == timing.ii


@pytest.mark.parametrize("schedule,lr", [("pipelined", [0.1, 2.0 ** -3]), ("sequential", [2.0 ** -3, 0.1])])
def test_per_layer_learning_rates_bit_exact(schedule, lr):
    """A constant rate on one layer (a multiplier and its cycle there), a shift on the other."""
    timing = timing_of(kan_241(), schedule, lr=lr)
    r = compare(kan_241, schedule, n=150 if schedule == "sequential" else 400, lr=lr, rounding="stochastic",
                gaps=True)
    assert_exact(r, timing, lr)
    assert r.changed > 0


def test_timing_of_the_default_shapes():
    """What the generator reports: II and D follow from latency; D=0 when sequential."""
    pipe = timing_of(kan_241(), "pipelined")
    seq = timing_of(kan_241(), "sequential")
    assert pipe.ii == 1 and seq.ii == max(pipe.pipeline_delays) + 1
    assert seq.delays == [0, 0] and pipe.delays == pipe.pipeline_delays
    assert pipe.pipeline_delays[0] > pipe.pipeline_delays[1] > 0  # the first layer is written last
    assert (pipe.latency, pipe.step) == (seq.latency, seq.step)
    shallow = timing_of(kan_241(), "pipelined", pipeline="shallow")
    assert (shallow.latency, shallow.step, shallow.delays) == (11, 15, [14, 8])  # the old schedule, unchanged
    assert pipe.step > shallow.step and all(d > s for d, s in zip(pipe.delays, shallow.delays))
    # deep: two adder levels per cycle, the casts alone, and a copy of the error per multiplier
    assert (pipe.latency, pipe.step, pipe.delays) == (12, 20, [18, 9])
    # deeper: a cycle for every multiplier's own operand registers (instead of the error's copies)
    deeper = timing_of(kan_241(), "pipelined", pipeline="deeper")
    assert (deeper.latency, deeper.step, deeper.delays) == (14, 22, [20, 10])
    assert timing_of(KAN([1, 1]), "pipelined").step == 9  # one edge: its error feeds it without a copy


@pytest.mark.parametrize("seed", range(10))
def test_random_configurations_bit_exact(seed):
    """A random KAN (every type's signedness drawn, inputs up to 62 bits, non-power-of-two grids)
    on a stream with learn = 0 samples, inputs off the grid and saturating targets, with gaps in
    valid on odd seeds; sequential schedule on every third, the shallow pipeline on every fourth
    and the deeper one on the fourth after the second."""
    config = random_configs.random_kan(np.random.default_rng(500 + seed))
    schedule = "sequential" if seed % 3 == 2 else "pipelined"
    pipeline = {3: "shallow", 1: "deeper"}.get(seed % 4, "deep")
    dut = KANLearner(config.make(), schedule=schedule, lr=config.lr, rounding=config.rounding, seed=seed,
                     pipeline=pipeline)
    drive = random_configs.random_stream(config, 120 if schedule == "sequential" else 250, seed, gaps=bool(seed % 2))
    r = verify.score(config.make(), drive, simulate.run(dut, drive), dut.timing.delays, config.lr, config.rounding,
                     seed)
    assert_exact(r, dut.timing, config, pipeline)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 60))
def test_more_random_configurations_bit_exact(seed):
    test_random_configurations_bit_exact(seed)


def test_a_wrong_rounding_in_the_update_is_caught(monkeypatch):
    """Break one cast of the generator (the coefficient update rounds differently): caught."""
    real = update.cast_expr

    def wrong(m, value, src, dst):
        return real(m, value, src, dst.with_modes(rounding="AP_RND" if dst.rounding.value != "AP_RND"
                                                  else "AP_TRN"))

    def make():
        return KAN([1, 2], grid=(-1.0, 1.0, 8), order=2, bits=10,
                   types={"update": "ap_fixed<14,3,AP_RND_CONV,AP_SAT>"})

    assert compare(make, "pipelined", n=200).coefficient_mismatches == 0
    monkeypatch.setattr(update, "cast_expr", wrong)
    r = compare(make, "pipelined", n=200)
    assert r.output_mismatches + r.coefficient_mismatches > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="schedule must be one of"):
        timing_of(kan_241(), schedule="fast")
    with pytest.raises(ValueError, match=r"pipeline must be one of \('deep', 'deeper', 'shallow'\), got 'fast'"):
        timing_of(kan_241(), pipeline="fast")
    from quantkan.models import MLP
    with pytest.raises(ValueError, match="needs a KAN model"):
        timing_of(MLP([1, 2, 1]))


@pytest.mark.parametrize("cells,order", [(1, 2), (1, 5), (2, 3), (3, 4), (5, 2), (7, 5)])
def test_tiny_grids_and_high_orders(cells, order):
    """Windows that cover the whole grid, and S+1 below the power-of-two bank count."""
    def make():
        return KAN([1, 2], grid=(-1.0, 1.0, cells), order=order, lut_bits=4, bits=12)
    r = compare(make, "pipelined", n=120, seed=cells * 10 + order, lr=2.0 ** -3, gaps=True)
    assert_exact(r, timing_of(make(), lr=2.0 ** -3), make())
    assert r.changed > 0


@pytest.mark.parametrize("name", [k for k in UNUSUAL if k.startswith("kan")])
def test_unsigned_and_wide_types_bit_exact(name):
    """Issue 13: unsigned inputs (grid lookup), outputs (error subtraction) and coefficients
    (read-modify-write, parameter read-back), and a 48-bit input on a non-power-of-two grid."""
    make, x_range, t_range = UNUSUAL[name]
    model = make()
    rng = np.random.default_rng(13)
    n = 200
    drive = verify.Drive(model.types.input.quantize(rng.uniform(*x_range, (n, model.layers[0]))),
                         model.types.output.quantize(rng.uniform(*t_range, (n, model.layers[-1]))),
                         rng.random(n) > 0.1, np.zeros(n, np.int64), [n // 2])
    dut = KANLearner(model)
    r = verify.score(make(), drive, simulate.run(dut, drive), dut.timing.delays, 2.0 ** -4, "type", 0)
    assert_exact(r, dut.timing, name)
    assert r.changed > 0


# -- the diagnostics counters (quantkan.diagnostics) ----------------------------------------------
def _saturating_run(seed: int = 0) -> verify.Score:
    """A random KAN (seed 500) whose stream overflows coefficients, errors and outputs (checked below)."""
    config = random_configs.random_kan(np.random.default_rng(500 + seed))
    dut = KANLearner(config.make(), lr=config.lr, rounding=config.rounding, seed=seed)
    drive = random_configs.random_stream(config, 250, seed, gaps=False)
    return verify.score(config.make(), drive, simulate.run(dut, drive), dut.timing.delays, config.lr,
                        config.rounding, seed)


@pytest.mark.parametrize("where", ["update", "pipeline"])
def test_a_wrong_counter_is_caught(monkeypatch, where):
    """Drop the overflow flags of the coefficient writes (update) or of the output and error casts
    (pipeline): the counters read back through the parameter port then differ from golden."""
    from amaranth.hdl import Const

    from quantkan.rtl import pipeline
    good = _saturating_run()
    assert good.counter_mismatches == 0 and good.counters_nonzero >= 5, good
    module = update if where == "update" else pipeline
    monkeypatch.setattr(module, "overflow_expr", lambda *args: Const(0, 1))
    r = _saturating_run()
    assert r.output_mismatches == 0 and r.coefficient_mismatches == 0 and r.counter_mismatches > 0, r


def test_read_cycles_present_one_address_per_cycle():
    assert list(read_cycles(3, 2)) == [(0, None), (1, 0), (2, 1), (None, 2)]
    assert list(read_cycles(2, 1)) == [(0, 0), (1, 1)]


def _run_clocked(dut, bench) -> None:
    """``bench`` (an amaranth.sim testbench) against ``dut`` on one clock."""
    from amaranth.sim import Simulator

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


async def _read_port(ctx, dut, addresses: list[int]) -> list[int]:
    """The words at ``addresses`` through ``dut``'s parameter port (``p_sel`` held by the caller)."""
    return await read_words(addresses, READ_LATENCY, lambda a: ctx.set(dut.p_addr, a), ctx.tick,
                            lambda: ctx.get(dut.p_rdata))


def test_parameter_reads_pipeline_at_the_read_latency():
    """Back-to-back reads, one address per cycle: each word is on p_rdata exactly READ_LATENCY
    cycles after its address, neither earlier nor later."""
    model = KAN([2, 3, 1], grid=(-1.0, 1.0, 5), order=3, bits=12, seed=4)
    dut = KANLearner(model, schedule="pipelined", lr=2.0 ** -3)
    index = [(l, j, i, c) for l, a in enumerate(model.coefficients) for j, i, c in np.ndindex(a.shape)]
    want = [int(model.coefficients[l][j, i, c]) for l, j, i, c in index]
    seen = []

    async def bench(ctx):
        ctx.set(dut.p_sel, 1)
        for k in range(len(index) + 3):
            if k < len(index):
                ctx.set(dut.p_addr, dut.param_address(*index[k]))
            await ctx.tick()
            seen.append(ctx.get(dut.p_rdata))

    _run_clocked(dut, bench)
    at = {lat: seen[lat - 1:lat - 1 + len(want)] for lat in (READ_LATENCY - 1, READ_LATENCY, READ_LATENCY + 1)}
    assert at[READ_LATENCY] == want
    assert at[READ_LATENCY - 1] != want and at[READ_LATENCY + 1] != want


@pytest.mark.parametrize("kind", ["kan", "mlp"])
def test_parameter_writes_commit_before_a_read_in_the_next_cycle(kind):
    """The registered port: every parameter written, one per cycle, then read back from the
    very next cycle on, last written first; each read returns what was written (the first
    would see the old value if a write committed later than the read that follows it)."""
    from quantkan.models import MLP
    from quantkan.rtl.mlp import MLPLearner
    if kind == "kan":
        model = KAN([2, 2, 1], grid=(-1.0, 1.0, 4), order=2, bits=10, seed=2)
        dut = KANLearner(model, schedule="pipelined")
    else:
        model = MLP([2, 3, 1], bits=10, seed=2)
        dut = MLPLearner(model, schedule="pipelined")
    rng = np.random.default_rng(5)
    index = [(p, idx) for p, a in enumerate(model.parameters()) for idx in np.ndindex(a.shape)]
    types = model.parameter_types()
    new = [int(rng.integers(types[p].min_raw, types[p].max_raw + 1)) for p, _ in index]
    old = [int(model.parameters()[p][idx]) for p, idx in index]
    assert new != old
    addresses = [dut.param_address(p, *idx) for p, idx in index]
    got = []

    async def bench(ctx):
        ctx.set(dut.p_sel, 1)
        ctx.set(dut.p_we, 1)
        for a, v in zip(addresses, new):
            ctx.set(dut.p_addr, a), ctx.set(dut.p_wdata, v)
            await ctx.tick()
        ctx.set(dut.p_we, 0)
        got.extend(await _read_port(ctx, dut, addresses[::-1]))

    _run_clocked(dut, bench)
    assert got == new[::-1]


def test_counters_are_above_the_parameters_and_a_write_clears_them():
    """The counter space: the top p_addr bit; a write there zeroes every counter, as the golden
    learner's clear_counters does, and counting goes on from there."""
    from quantkan.golden import OnlineLearner
    model = KAN([2, 2, 1], grid=(-1.0, 1.0, 4), order=2, bits=10, seed=1)
    dut = KANLearner(model, schedule="sequential", lr=2.0 ** -3)
    cm = dut.counters
    assert cm.base == 1 << (len(dut.p_addr) - 1) and cm.words == 4  # 32-bit counters, 10-bit port words
    assert max(dut.param_address(l, j, i, c) for l, a in enumerate(model.coefficients)
               for j, i, c in np.ndindex(a.shape)) < cm.base
    golden = OnlineLearner(KAN([2, 2, 1], grid=(-1.0, 1.0, 4), order=2, bits=10, seed=1), lr=2.0 ** -3)
    rng = np.random.default_rng(3)
    x = model.types.input.quantize(rng.uniform(-1.2, 1.2, (30, 2)))
    t = model.types.output.quantize(rng.uniform(-3, 3, (30, 1)))
    reads = []

    async def bench(ctx):
        async def read() -> list[int]:
            ctx.set(dut.p_sel, 1)
            words = await _read_port(ctx, dut, list(cm.addresses()))
            ctx.set(dut.p_sel, 0)
            await ctx.tick()
            return cm.values(words)

        for n in range(30):
            if n in (10, 20):
                for _ in range(dut.timing.settle):  # drain: then read the counters first
                    await ctx.tick()
                reads.append(await read())
                if n == 10:  # clear: a write anywhere in the counter space
                    ctx.set(dut.p_sel, 1), ctx.set(dut.p_we, 1), ctx.set(dut.p_addr, cm.address(3, 1))
                    await ctx.tick()
                    ctx.set(dut.p_sel, 0), ctx.set(dut.p_we, 0)
                    await ctx.tick()
                    reads.append(await read())
            ctx.set(dut.x[0], int(x[n, 0])), ctx.set(dut.x[1], int(x[n, 1])), ctx.set(dut.target[0], int(t[n, 0]))
            ctx.set(dut.learn, 1), ctx.set(dut.valid, 1)
            while not ctx.get(dut.ready):
                await ctx.tick()
            await ctx.tick()
            ctx.set(dut.valid, 0)

    _run_clocked(dut, bench)
    want = []
    for n in range(20):
        if n == 10:
            want.append(golden.diagnostics().hardware())
            golden.clear_counters()
            want.append(golden.diagnostics().hardware())
        golden.step_raw(x[n], t[n])
    golden.flush()
    want.append(golden.diagnostics().hardware())
    assert reads == want
    assert reads[1] == [0] * len(cm.names) and reads[0][0] == 10 and reads[2][0] == 10

"""Drive a learner (KAN or MLP) in Amaranth's own simulator: no Verilog, fast enough for
small configurations.

The same protocol as the cocotb testbench (``sim/tb_learner.py``): inputs change between
clock edges, a sample is accepted at the edge where ``valid & ready``, and at every
checkpoint the stream pauses until the last update has committed and the counters hold it
(``timing.settle``), then every coefficient is read back through the parameter port (one
address per cycle, pipelined, :func:`quantkan.rtl.verify.read_words`), then the diagnostics
counters.
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from quantkan.rtl.kan import READ_LATENCY, Learner
from quantkan.rtl.verify import Drive, Observed, read_words

__all__ = ["run"]


def run(dut: Learner, drive: Drive) -> Observed:
    ys, accepts, outs, params, counters = [], [], [], [], []
    coef_shapes = [c.shape for c in dut.model.parameters()]

    async def bench(ctx):
        cycle = 0

        async def tick():
            nonlocal cycle
            await ctx.tick()
            cycle += 1
            if ctx.get(dut.y_valid):
                ys.append([ctx.get(dut.y[j]) for j in range(dut.n_out)])
                outs.append(cycle)

        async def read_back() -> list[np.ndarray]:
            params = [(l, idx) for l, shape in enumerate(coef_shapes) for idx in np.ndindex(shape)]
            addresses = [dut.param_address(l, *idx) for l, idx in params] + list(dut.counters.addresses())
            ctx.set(dut.p_sel, 1)
            words = await read_words(addresses, READ_LATENCY, lambda a: ctx.set(dut.p_addr, a), tick,
                                     lambda: ctx.get(dut.p_rdata))
            got = [np.zeros(s, np.int64) for s in coef_shapes]
            for (l, idx), word in zip(params, words):
                got[l][idx] = word
            counters.append(dut.counters.values(words[len(params):]))
            ctx.set(dut.p_sel, 0)
            await tick()  # as the cocotb testbench does: one idle cycle after the read-back
            return got

        marks = iter(drive.checkpoints)
        mark = next(marks)
        for s in range(drive.n):
            ctx.set(dut.valid, 0)
            for _ in range(int(drive.gaps[s])):
                await tick()
            for i in range(dut.n_in):
                ctx.set(dut.x[i], int(drive.x[s][i]))
            for j in range(dut.n_out):
                ctx.set(dut.target[j], int(drive.target[s][j]))
            ctx.set(dut.learn, int(drive.learn[s]))
            ctx.set(dut.valid, 1)
            while True:
                ready = ctx.get(dut.ready)
                await tick()
                if ready:
                    accepts.append(cycle)
                    break
            if s + 1 == mark:
                ctx.set(dut.valid, 0)
                while len(ys) < s + 1 or cycle < accepts[-1] + dut.timing.settle:
                    await tick()
                params.append(await read_back())
                mark = next(marks, None)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return Observed(np.array(ys, np.int64), np.array(accepts), np.array(outs), params, counters)

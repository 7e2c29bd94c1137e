"""Drive a KANLearner in Amaranth's simulator: fast enough for small configurations."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from quantkan.rtl.kan import KANLearner

__all__ = ["run", "SimResult"]


class SimResult:
    def __init__(self, y: np.ndarray, accept_cycles: list[int], out_cycles: list[int], params: list[np.ndarray]):
        self.y, self.accept_cycles, self.out_cycles, self.params = y, accept_cycles, out_cycles, params

    @property
    def latency(self) -> int:
        return self.out_cycles[0] - self.accept_cycles[0]


def run(dut: KANLearner, x_raw: np.ndarray, target_raw: np.ndarray, learn: np.ndarray,
        gaps: np.ndarray | None = None) -> SimResult:
    """Stream samples (valid held low for ``gaps[n]`` cycles before sample n), collect every
    output, then read back every coefficient through the parameter port."""
    n = len(x_raw)
    gaps = np.zeros(n, dtype=int) if gaps is None else np.asarray(gaps, dtype=int)
    ys, accepts, outs, params = [], [], [], []
    model = dut.model

    async def bench(ctx):
        cycle = 0
        pending = 0
        for s in range(n):
            for _ in range(int(gaps[s])):
                ctx.set(dut.valid, 0)
                await ctx.tick()
                cycle += 1
                if ctx.get(dut.y_valid):
                    ys.append([ctx.get(dut.y[j]) for j in range(dut.n_out)]); outs.append(cycle)
            for i in range(dut.n_in):
                ctx.set(dut.x[i], int(x_raw[s][i]))
            for j in range(dut.n_out):
                ctx.set(dut.target[j], int(target_raw[s][j]))
            ctx.set(dut.learn, int(learn[s]))
            ctx.set(dut.valid, 1)
            while True:
                ready = ctx.get(dut.ready)
                await ctx.tick()
                cycle += 1
                if ctx.get(dut.y_valid):
                    ys.append([ctx.get(dut.y[j]) for j in range(dut.n_out)]); outs.append(cycle)
                if ready:
                    accepts.append(cycle)
                    break
        ctx.set(dut.valid, 0)
        while len(ys) < n or cycle < accepts[-1] + dut.timing.step + 1:
            await ctx.tick()
            cycle += 1
            if ctx.get(dut.y_valid):
                ys.append([ctx.get(dut.y[j]) for j in range(dut.n_out)]); outs.append(cycle)
        ctx.set(dut.p_sel, 1)
        for l, coef in enumerate(model.coefficients):
            got = np.zeros_like(coef)
            for j, i, c in np.ndindex(coef.shape):
                ctx.set(dut.p_addr, dut.param_address(l, j, i, c))
                await ctx.tick()
                got[j, i, c] = ctx.get(dut.p_rdata)
            params.append(got)
        ctx.set(dut.p_sel, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return SimResult(np.array(ys, dtype=np.int64), accepts, outs, params)

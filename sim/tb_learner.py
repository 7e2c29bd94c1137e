"""cocotb testbench of an exported learner (KAN or MLP) (``quantkan export verilog``).

A driver and a monitor, no judgement: the job folder named by ``QUANTKAN_JOB`` holds the
export (``quantkan_rtl.json`` with widths, timing and parameter address fields) and a
``drive.npz`` (:class:`quantkan.rtl.verify.Drive`).  Samples go in with ``valid`` low for
``gaps[n]`` cycles before sample n; every ``y`` is recorded with its clock edge; at each
checkpoint the stream pauses until the last update has committed and the counters hold it
(``timing.settle``), and every parameter is read back through the parameter port
(:func:`quantkan.rtl.verify.read_words`), then the diagnostics counters.  ``observed.npz``
goes back to the caller, whose scoreboard (:func:`quantkan.rtl.verify.score`) replays the
golden model.

Inputs change on the falling edge (cocotb 2 refuses writes in the read-only phase); the
rising edge samples them.  Edge n is the n-th rising edge after reset, as in
``quantkan.rtl.simulate``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from quantkan.diagnostics import CounterMap
from quantkan.fixed import FixedType, pack, unpack
from quantkan.rtl.export import param_address
from quantkan.rtl.verify import Drive, Observed, read_words


@cocotb.test()
async def stream_and_read_back(dut):
    job = Path(os.environ["QUANTKAN_JOB"])
    meta = json.loads((job / "quantkan_rtl.json").read_text())
    drive = Drive.load(job / "drive.npz")
    t_in, t_out = (FixedType.parse(meta["types"][k]) for k in ("input", "output"))
    n_out, settle = meta["n_out"], meta["timing"]["settle"]
    shapes = [tuple(s) for s in meta["param_shapes"]]
    t_params = [FixedType.parse(t) for t in meta["param_types"]]

    counter_map = CounterMap.from_json(meta["counters"])
    ys, accepts, outs, params, counters = [], [], [], [], []
    cycle = 0

    async def tick() -> None:
        nonlocal cycle
        await FallingEdge(dut.clk)
        cycle += 1
        if int(dut.y_valid.value):
            ys.append(unpack(int(dut.y.value), t_out, n_out))
            outs.append(cycle)

    async def read_back() -> list[np.ndarray]:
        params = [(p, idx) for p, shape in enumerate(shapes) for idx in np.ndindex(shape)]
        addresses = [param_address(meta, p, *idx) for p, idx in params] + list(counter_map.addresses())
        dut.p_sel.value = 1
        words = await read_words(addresses, meta["read_latency"], lambda a: setattr(dut.p_addr, "value", a), tick,
                                 lambda: int(dut.p_rdata.value))
        got = [np.zeros(s, np.int64) for s in shapes]
        for (p, idx), word in zip(params, words):
            got[p][idx] = unpack(word, t_params[p], 1)[0]
        counters.append(counter_map.values(words[len(params):]))
        dut.p_sel.value = 0
        await tick()  # ready reads p_sel: let the release settle before the stream resumes
        return got

    for name in ("valid", "learn", "p_sel", "p_we", "p_addr", "p_wdata", "x", "target"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0

    started = time.perf_counter()
    marks = iter(drive.checkpoints)
    mark = next(marks)
    for s in range(drive.n):
        dut.valid.value = 0
        for _ in range(int(drive.gaps[s])):
            await tick()
        dut.x.value = pack(drive.x[s], t_in)
        dut.target.value = pack(drive.target[s], t_out)
        dut.learn.value = int(drive.learn[s])
        dut.valid.value = 1
        while True:
            ready = int(dut.ready.value)
            await tick()
            if ready:
                accepts.append(cycle)
                break
        if s + 1 == mark:
            dut.valid.value = 0
            while len(ys) < s + 1 or cycle < accepts[-1] + settle:
                await tick()
            params.append(await read_back())
            mark = next(marks, None)
    elapsed = time.perf_counter() - started
    Observed(np.array(ys, np.int64), np.array(accepts), np.array(outs), params, counters).save(job / "observed.npz")
    (job / "observed.json").write_text(json.dumps({"cycles": cycle, "seconds": elapsed}))
    dut._log.info("%d samples, %d cycles in %.1f s", drive.n, cycle, elapsed)

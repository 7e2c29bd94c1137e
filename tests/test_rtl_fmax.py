"""``quantkan timing``: the out-of-context harness, nextpnr's critical path by stage name, and one
real place and route of a small learner (about a minute on two cores)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from amaranth.back import verilog

from quantkan.cli import main
from quantkan.models import KAN
from quantkan.boards.lattice import Step, run_step
from quantkan.rtl.ecp5_dsp import pack_input_registers_file
from quantkan.rtl.fmax import DEVICES, STAGES, TOP, OOCHarness, SeedRun, critical_path, stage_of, yosys_script
from quantkan.rtl.kan import KANLearner


@pytest.mark.parametrize("name,stage", [
    ("learner.h0_l_TRELLIS_FF_Q_4", "layer 0 adder tree level"),
    ("learner.h1_TRELLIS_FF_Q", "layer 1 adder tree: cast (with the last level when shallow)"),
    ("learner.cb1_12_TRELLIS_FF_Q_3", "layer 1 multiply: coefficient x basis"),
    ("learner.coef0_3_1.bank2_RAMW", "layer 0 read-modify-write of coefficients (lane 3_1)"),
    ("learner.coef0_0_1.rd_window_TRELLIS_FF_Q_45", "layer 0 coefficient window register (lane 0_1)"),
    ("learner.coef1_0_2.rmw_cur3_TRELLIS_FF_Q", "layer 1 read-modify-write of coefficients (lane 0_2)"),
    ("learner.delta1_7", "layer 1 delta: error x basis, cast"),
    ("learner.rows_0_1", "layer 0 lookup: cell and table row (lane 1)"),
    ("learner.err_d2_TRELLIS_FF_Q", "error: y - target, cast"),
    ("learner.grad1_3_TRELLIS_FF_Q_6", "layer 1 backprop: hidden error (error x slope, sum, cast)"),
    ("learner.efan1_5_TRELLIS_FF_Q_2", "layer 1 error: copy next to its multiplier"),
    ("learner.basis_bank0_3_TRELLIS_FF_Q_1", "layer 0 delta: basis rotated into bank order"),
    ("learner.lfsr_bank1_2_TRELLIS_FF_Q", "layer 1 delta: LFSR bits rotated into bank order"),
    ("learner.delta_seen0_6_TRELLIS_FF_Q_2", "layer 0 diagnostics: the delta's copy for the zero-update test"),
    ("learner.event_l0_zero_6_TRELLIS_FF_Q", "diagnostics: counter event"),
    ("learner.count_l0_param_sat_inc_TRELLIS_FF_Q_5", "diagnostics: counter"),
    ("learner.p_rdata_part0_TRELLIS_FF_Q_6", "parameter port"),
    ("learner.port1_2_0_addr_TRELLIS_FF_Q_1", "layer 1 parameter port: the edge's registered copy (lane 2_0)"),
    ("learner.port_we_TRELLIS_FF_Q", "parameter port: registered"),
    ("learner.cb1_op_5_TRELLIS_FF_Q_3", "layer 1 multiply: an operand's register beside the DSP"),
    ("learner.grad1_p_op_2_TRELLIS_FF_Q", "layer 1 multiply: an operand's register beside the DSP"),
    ("scan_in[20]", "harness input chain: a learner input port"),
    ("learner.$abc$123$lut", "unnamed logic"),
])
def test_netlist_names_map_to_generator_stages(name, stage):
    assert stage_of(name) == stage


def _hop(kind: str, cell: str, delay: float, net: str | None = None) -> dict:
    hop = {"type": kind, "delay": delay, "from": {"cell": cell}, "to": {"cell": cell}}
    return {**hop, "net": net} if net else hop


def test_critical_path_is_the_clock_to_clock_one():
    report = {"critical_paths": [
        {"from": "<async>", "to": "posedge clk", "path": [_hop("setup", "learner.x_in", 9.0)]},
        {"from": "posedge clk", "to": "posedge clk", "path": [
            _hop("clk-to-q", "learner.acc0_l_TRELLIS_FF_Q", 0.4), _hop("routing", "learner.$a", 1.0, "learner.acc0_l[0]"),
            _hop("logic", "learner.$a", 0.3), _hop("setup", "learner.acc0_TRELLIS_FF_Q_2", 0.1)]}]}
    run = SeedRun(1, 100.0, 1.0, critical_path(report))
    assert run.source_stage == "layer 0 adder tree level"
    assert run.sink_stage == "layer 0 adder tree: cast (with the last level when shallow)"
    assert sum(s.delay_ns for s in run.path) == pytest.approx(1.8)


def test_a_path_from_a_dsp_block_names_the_multiply_it_computes():
    """A DSP whose registers start the path keeps no name of its own (yosys names it $784):
    it is the multiply whose product register the path ends in."""
    report = {"critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
        _hop("clk-to-q", "learner.$784_MULT18X18D_P9", 3.0),
        _hop("routing", "learner.cb0_20_TRELLIS_FF_Q_21", 3.4, "learner.$784[10]"),
        _hop("setup", "learner.cb0_20_TRELLIS_FF_Q_21", 0.0)]}]}
    run = SeedRun(1, 155.0, 1.0, critical_path(report))
    assert run.source_stage == "layer 0 multiply: coefficient x basis (in the DSP block)"
    assert run.sink_stage == "layer 0 multiply: coefficient x basis"
    lut = {"critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
        _hop("clk-to-q", "learner.$784_LUT4_Z", 0.4), _hop("setup", "learner.cb0_20_TRELLIS_FF_Q_21", 0.0)]}]}
    assert critical_path(lut)[0].stage == "unnamed logic"  # only a DSP cell is read as its product's multiply


def test_harness_registers_every_port_behind_scan_chains():
    learner = KANLearner(KAN([1, 1], grid=(-1.0, 1.0, 4), order=1, bits=8))
    harness = OOCHarness(learner)
    text = verilog.convert(harness, name="quantkan_ooc", ports=harness.ports, emit_src=False)
    head = text[text.index("module quantkan_ooc"):].split(";")[0]
    assert all(p in head for p in ("clk", "rst", "si", "cap", "so")) and "p_wdata" not in head


def synthesized(folder: Path, learner: KANLearner) -> Path:
    """The ECP5 netlist (yosys JSON) of ``learner`` in the timing harness, as the timing flow synthesizes it."""
    harness = OOCHarness(learner)
    (folder / f"{TOP}.v").write_text(verilog.convert(harness, name=TOP, ports=harness.ports, emit_src=False))
    (folder / "s.ys").write_text(yosys_script(f"{TOP}.v", "ecp5", "n.json"))
    run_step(Step("YOSYS", ["-q", "-s", "s.ys"]), folder, folder / "yosys.out", sys.stderr)
    return folder / "n.json"


def test_synthesis_keeps_the_error_copies(tmp_path):
    """One flip-flop per copy and bit: yosys would merge the equal copies of the error back into
    the one register that fans out across the die (a keep on the wire does not stop it)."""
    model = KAN([1, 2, 1], grid=(-1.0, 1.0, 4), order=1, lut_bits=4, bits=8)
    cells = json.loads(synthesized(tmp_path, KANLearner(model)).read_text())["modules"][TOP]["cells"]
    copies = [c for name, c in cells.items() if c["type"] == "TRELLIS_FF" and stage_of(name).endswith("copy next to "
                                                                                                     "its multiplier")]
    # the output layer's error feeds 2 edges x (S+1 = 2) update multipliers and 2 hidden-error ones
    assert len(copies) == 6 * model.types.error.width


def test_the_deeper_pipelines_multipliers_take_their_operand_registers(tmp_path):
    """Under ``deeper`` every multiplier's operands are plain registers of their own, so the ECP5
    flow moves all of them into the DSPs (:mod:`quantkan.rtl.ecp5_dsp`): no DSP input comes from
    an operand's fabric copy any more (a copy yosys merged with a delay line stays, for the line)."""
    learner = KANLearner(KAN([1, 2, 1], grid=(-1.0, 1.0, 4), order=1, lut_bits=4, bits=8), pipeline="deeper")
    netlist = synthesized(tmp_path, learner)
    before = json.loads(netlist.read_text())["modules"][TOP]["cells"]
    dsps = [n for n, c in before.items() if c["type"] == "MULT18X18D"]
    assert pack_input_registers_file(netlist, TOP) == len(dsps) > 0
    after = json.loads(netlist.read_text())["modules"][TOP]["cells"]
    assert all(after[n]["parameters"]["REG_INPUTA_CLK"] == "CLK0" for n in dsps)

    def from_operand_copies(cells: dict) -> int:
        copy = "multiply: an operand's register beside the DSP"
        q = {b for n, c in cells.items() if c["type"] == "TRELLIS_FF" and stage_of(n).endswith(copy)
             for b in c["connections"]["Q"]}
        return sum(cells[n]["connections"][f"{bus}{i}"][0] in q for n in dsps for bus in "AB" for i in range(18))

    assert from_operand_copies(before) > 0 and from_operand_copies(after) == 0


def test_timing_command_names_the_critical_stage(tmp_path, capsys):
    """A small learner placed and routed on the ECP5: Fmax, ns per step and a named stage."""
    config = tmp_path / "small.toml"
    config.write_text('[model]\nkind = "kan"\nlayers = [1, 1]\ngrid = [-1.0, 1.0, 4]\norder = 1\nlut_bits = 4\n'
                      'bits = 8\n[learning]\nlr = 0.125\n[task]\nname = "drift"\nn = 100\n')
    out = tmp_path / "t"
    assert main(["timing", str(config), "--device", "ecp5-85f-8", "--seed", "1", "--seed", "2", "-o", str(out),
                 "--nextpnr-opts", "--placer-heap-critexp 2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed.strip().splitlines()[-1])
    saved = json.loads((out / "timing.json").read_text())
    assert {k: saved[k] for k in summary} == summary and saved["command"] == "timing"
    assert summary["device"] == "ecp5-85f-8" and summary["part"] == DEVICES["ecp5-85f-8"].part
    fmax = summary["fmax_mhz"]
    assert set(fmax["seeds"]) == {"1", "2"} and 0 < fmax["min"] <= fmax["median"]
    assert summary["step"]["ns"] == pytest.approx(summary["step"]["cycles"] * 1e3 / fmax["min"], rel=1e-2)
    assert summary["latency"]["cycles"] > 0 and summary["ii"] == 1 and len(summary["delays"]) == 1
    assert summary["utilization"]["MULT18X18D"] > 0
    assert summary["nextpnr_opts"] == ["--placer-heap-critexp", "2"]  # nextpnr's default, passed through
    known = {stage for _, stage in STAGES}
    for end in (summary["critical"]["from"], summary["critical"]["to"]):
        assert any(end.endswith(stage) or stage in end for stage in known), end
    assert "post-route Fmax" in printed and "critical path" in printed


def test_timing_refuses_an_unknown_device(tmp_path):
    from quantkan.rtl.fmax import place_route

    with pytest.raises(ValueError, match="device must be one of ecp5-85f-6, ecp5-85f-8, up5k"):
        place_route(KAN([1, 1]), "xc7", Path(tmp_path))


def test_a_placement_is_reused_only_with_the_same_nextpnr_options(tmp_path):
    """A second run with the same netlist, device, seed and options takes the saved report; more
    nextpnr options (the placer's weights) place and route again, and the report says which."""
    import io

    from quantkan.rtl.fmax import place_route

    model = KAN([1, 1], grid=(-1.0, 1.0, 4), order=1, lut_bits=4, bits=8)

    def run(*opts: str) -> tuple[str, dict]:
        log = io.StringIO()
        report = place_route(model, "ecp5-85f-8", tmp_path, log=log, nextpnr_opts=opts)
        return log.getvalue(), report.as_dict()

    assert "up to date (same netlist" not in run()[0]
    assert "up to date (same netlist, device, seed and options)" in run()[0]
    again, summary = run("--placer-heap-timingweight", "40")
    assert "up to date (same Verilog and script)" in again and "up to date (same netlist" not in again
    assert summary["nextpnr_opts"] == ["--placer-heap-timingweight", "40"]
    assert "--placer-heap-timingweight 40" in (tmp_path / "ecp5-85f-8-seed1.seconds").read_text()


SMALL = '[model]\nkind = "kan"\nlayers = [1, 1]\ngrid = [-1.0, 1.0, 4]\norder = 1\nlut_bits = 4\nbits = 8\n'


def test_a_seed_past_the_timeout_is_stopped_and_reported_unfinished(tmp_path, capsys, monkeypatch):
    """Seed 1 routes; seed 2 is stopped at the limit (faked, as a router that crawls): the
    report keeps seed 1's Fmax and names seed 2 and where its run was stopped."""
    from quantkan.boards import lattice

    real = lattice.run_step

    def crawling(step, cwd, log_file, out, every=15.0, timeout=None):
        if step.tool.startswith("NEXTPNR"):
            assert timeout == pytest.approx(30.0)  # --timeout 0.5 (minutes); synthesis has no limit
            if step.argv[step.argv.index("--seed") + 1] == "2":
                raise lattice.StepTimeout(30.4, "routing, 1,234 arcs left")
        return real(step, cwd, log_file, out, every, timeout=None)

    monkeypatch.setattr(lattice, "run_step", crawling)
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    assert main(["timing", str(config), "--seed", "1", "--seed", "2", "--timeout", "0.5", "-o", str(tmp_path / "t"),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed.strip().splitlines()[-1])
    assert set(summary["fmax_mhz"]["seeds"]) == {"1"} and summary["fmax_mhz"]["min"] > 0
    assert summary["unfinished"] == {"2": "stopped after 30 s (routing, 1,234 arcs left)"}
    assert "seed 2 has no Fmax: stopped after 30 s (routing, 1,234 arcs left)" in printed


def test_no_seed_within_the_timeout_is_a_clear_error(tmp_path):
    """A real nextpnr run stopped after a second: no Fmax to report, so an error that says so."""
    from quantkan.rtl.fmax import RouteTimeout, place_route

    model = KAN([1, 1], grid=(-1.0, 1.0, 4), order=1, lut_bits=4, bits=8)
    with pytest.raises(RouteTimeout, match=r"no seed finished place and route within 1 s \(seed 1 stopped after 1 s"):
        place_route(model, "ecp5-85f-8", tmp_path, timeout=1.0)
    assert not (tmp_path / "ecp5-85f-8-seed1.seconds").exists()  # nothing to reuse next time
    with pytest.raises(ValueError, match="timeout must be positive, got 0 s"):
        place_route(model, "ecp5-85f-8", tmp_path, timeout=0)


def test_progress_names_the_routers_arcs_left(tmp_path):
    from quantkan.boards.lattice import _last_phase

    (tmp_path / "pr.log").write_text(
        "Info: Routing..\nInfo: Setting up routing queue.\nInfo: Routing 84259 arcs.\n"
        "Info:            |   (re-)routed arcs  |   delta    | remaining|       time spent     |\n"
        "Info:      79000 |    42851      36148 |  344   656 |     67056|       8.03    1437.22|\n"
        "Info:      80000 |    43232      36767 |  381   619 |     66767|      15.59    1452.81|\n")
    step = Step("NEXTPNR_ECP5", ["--log", "pr.log"])
    assert _last_phase(tmp_path, step) == "routing, 66,767 arcs left"
    (tmp_path / "pr.log").write_text("Info: Running simulated annealing placer for refinement.\n")
    assert _last_phase(tmp_path, step) == "Running simulated annealing placer for refinement."

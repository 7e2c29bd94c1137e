"""``[learning] pipeline``: one setting chooses the RTL pipeline for every command, so the D that
``quantkan train`` learns with is the D of the learner that export, sim, timing and the boards
build (deeper: a faster clock and a larger D; shallow: fewer cycles)."""

from __future__ import annotations

import json

import pytest

from quantkan.boards.protocol import Spec, model_id
from quantkan.cli import main
from quantkan.models import KAN
from quantkan.rtl.cosim import available_simulators
from quantkan.rtl.export import learner_timing
from quantkan.tasks import make_task
from quantkan.train import build_run, train


def k241() -> KAN:
    return KAN([2, 4, 1], grid=(-1.0, 1.0, 8), bits=16)


def delays(pipeline: str) -> list[int]:
    return list(learner_timing(k241(), "pipelined", lr=2.0 ** -4, pipeline=pipeline).delays)


def config_file(tmp_path, pipeline: str | None, n: int = 300) -> str:
    path = tmp_path / f"k241-{pipeline}.toml"
    line = f"pipeline = '{pipeline}'\n" if pipeline else ""
    path.write_text(f"[model]\nkind = 'kan'\nlayers = [2, 4, 1]\nbits = 16\n"
                    f"[learning]\nlr = 0.0625\n{line}[task]\nname = 'drift2d'\nn = {n}\n")
    return str(path)


def test_the_pipelines_differ_in_d():
    """Else nothing below could tell one pipeline's D from another's."""
    assert len({tuple(delays(p)) for p in ("deep", "deeper", "shallow")}) == 3


def test_a_config_names_its_pipeline_and_deep_is_the_default():
    config = {"model": {"kind": "kan", "layers": [2, 4, 1]}, "task": {"name": "drift2d", "n": 50}}
    assert build_run(config, {})[2]["pipeline"] == "deep"
    assert build_run({**config, "learning": {"pipeline": "deeper"}}, {})[2]["pipeline"] == "deeper"
    overridden = build_run({**config, "learning": {"pipeline": "deeper"}}, {"learning": {"pipeline": "shallow"}})
    assert overridden[2]["pipeline"] == "shallow"
    with pytest.raises(ValueError, match=r"\[learning\] pipeline must be one of 'deep', 'deeper', 'shallow', "
                                         r"got 'fast'"):
        build_run({**config, "learning": {"pipeline": "fast"}}, {})


@pytest.mark.parametrize("pipeline", ["deeper", "shallow"])
def test_train_learns_with_the_pipelines_d(pipeline):
    result = train(k241(), make_task("drift2d", n=200), lr=2.0 ** -4, pipeline=pipeline, twin=False,
                   show_progress=False, check_delay=False)
    assert result.delays == delays(pipeline) and f"{pipeline} pipeline" in result.delay_source
    assert result.metrics()["pipeline"] == pipeline
    with pytest.raises(ValueError, match="pipeline must be one of"):
        train(k241(), make_task("drift2d", n=10), pipeline="fastest", show_progress=False)


def test_train_command_takes_the_configs_pipeline_or_the_option(tmp_path, capsys):
    config = config_file(tmp_path, "deeper")
    assert main(["train", config, "--quiet", "--no-twin"]) == 0
    assert f"update delay D = {delays('deeper')} per layer (the RTL generator's, pipelined schedule, deeper " \
           "pipeline)" in capsys.readouterr().out
    out = tmp_path / "m.qkan"
    assert main(["train", config, "--pipeline", "shallow", "--quiet", "--no-twin", "-o", str(out)]) == 0
    assert f"update delay D = {delays('shallow')} per layer" in capsys.readouterr().out
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["learning"]["pipeline"] == "shallow" and record["learning"]["delay"] == delays("shallow")


def test_export_builds_the_configs_pipeline_unless_told_otherwise(tmp_path, capsys):
    config = config_file(tmp_path, "deeper")
    assert main(["export", "verilog", config, "-o", str(tmp_path / "a")]) == 0
    meta = json.loads((tmp_path / "a" / "quantkan_rtl.json").read_text())
    assert meta["pipeline"] == "deeper" and meta["timing"]["pipeline_delays"] == delays("deeper")
    assert main(["export", "verilog", config, "-o", str(tmp_path / "b"), "--pipeline", "deep"]) == 0
    meta = json.loads((tmp_path / "b" / "quantkan_rtl.json").read_text())
    assert meta["pipeline"] == "deep" and meta["timing"]["pipeline_delays"] == delays("deep")
    assert "(pipelined, deep)" in capsys.readouterr().out


def test_a_boards_spec_names_its_pipeline():
    """The host checks the board's hello against the spec: latency, step and model id differ
    between pipelines, so a host that expects deep refuses a deeper board.  A deep board keeps
    the id it had before pipelines were named."""
    deep, deeper = Spec.for_model(k241()), Spec.for_model(k241(), pipeline="deeper")
    assert (deep.pipeline, deeper.pipeline) == ("deep", "deeper")
    assert deeper.latency > deep.latency and deeper.step > deep.step and deeper.model_id != deep.model_id
    lr = 2.0 ** -4
    assert deep.model_id == model_id(k241(), "pipelined", lr, "type", 0)


@pytest.mark.skipif("verilator" not in available_simulators(), reason="Verilator is not installed")
def test_sim_verifies_the_configs_pipeline_bit_for_bit(tmp_path, capsys):
    config = config_file(tmp_path, "deeper", n=400)
    code = main(["sim", config, "--schedule", "pipelined", "--simulator", "verilator", "--checkpoints", "1",
                 "--quiet", "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["learning"]["pipeline"] == "deeper"
    assert [r["delays"] for r in summary["runs"]] == [delays("deeper")] * 2 and all(r["ok"] for r in summary["runs"])

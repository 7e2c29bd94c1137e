"""quantkan sweep: specs expand and refuse clearly, points run on a 2-worker LocalCluster,
rows match a direct train, a killed sweep resumes without redoing or losing points."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

from quantkan.sweep import ResultsTable, load_spec, parse_spec, run_point, run_seeds, run_sweep  # noqa: E402
from quantkan.sweep.hardware import HARDWARE, register  # noqa: E402
from quantkan.sweep.plot import pareto, sweep_figures  # noqa: E402
from quantkan.sweep.run import columns_of  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

TINY = {"sweep": {"seeds": [0, 1]}, "base": {"task": {"n": 600}, "learning": {"lr": 0.125}},
        "grid": {"model.kind": ["kan", "mlp"], "model.bits": [8, 12], "task.name": ["drift", "qubit"]}}


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_spec_expands_grid_points_and_seeds():
    spec = parse_spec({**TINY, "points": [{"model.kind": "kan", "learning.delay": 2}]})
    assert len(spec) == (2 * 2 * 2 + 1) * 2
    assert len({p.key for p in spec}) == len(spec)
    assert spec.swept == ("learning.delay", "model.bits", "model.kind", "task.name")
    config, overrides = spec.points[0].train_config()
    assert overrides == {"kind": "kan", "bits": 8}
    assert config["task"] == {"n": 600, "name": "drift"} and config["learning"] == {"lr": 0.125, "seed": 0}


def test_example_spec_is_the_precision_study():
    spec = load_spec(EXAMPLES / "sweeps" / "precision_study.toml")
    assert len(spec) == 2 * 11 * 3 * 3
    bits = {p.settings["model.bits"] for p in spec}
    assert bits == set(range(6, 17))
    assert {p.settings["task.name"] for p in spec} == {"drift", "drift2d", "qubit"}


@pytest.mark.parametrize("data,message", [
    ({"sweeps": {}}, r"unknown sections \['sweeps'\]"),
    ({"sweep": {"seed": [1]}}, r"unknown \[sweep\] settings \['seed'\]"),
    ({"sweep": {"seeds": []}}, "seeds must be a non-empty list of integers >= 0, got \\[\\]"),
    ({"sweep": {"seeds": [1, -2]}}, "seeds must be .* got \\[1, -2\\]"),
    ({"sweep": {"engine": "gpu"}}, "engine must be one of .* got 'gpu'"),
    ({"sweep": {"hardware": ["vivado"]}}, r"hardware must list some of \[.*'report'.*\], got \['vivado'\]"),
    ({"sweep": {"fraction": 0}}, r"fraction must be a number in \(0, 1\], got 0"),
    ({"grid": {"bits": [8]}}, "setting 'bits' must be 'section.name'"),
    ({"grid": {"model.bits": 8}}, "'model.bits' must be a non-empty list of values, got 8"),
    ({"grid": {"model.bits": []}}, "'model.bits' must be a non-empty list"),
    ({"grid": {"learning.momentum": [0.9]}}, "unknown learning setting 'learning.momentum'"),
    ({"grid": {"learning.seed": [1]}}, "unknown learning setting 'learning.seed'.*seeds go in"),
    ({"grid": {"task.name": ["drfit"]}}, "unknown task 'drfit'"),
    ({"base": {"board": {"x": 1}}}, r"\[base.board\] is not a settings table"),
    ({"base": {"hardware": {"clock": 5}}}, r"unknown hardware setting 'hardware.clock'; known: \['hardware.family', "),
    ({"points": [{"model.kind": "kan"}, 3]}, r"\[\[points\]\] must be a list of tables"),
])
def test_bad_specs_are_refused_by_name(data, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(data)


def test_cli_reports_a_bad_spec(tmp_path, capsys):
    from quantkan.cli import main

    spec = tmp_path / "bad.toml"
    spec.write_text('[grid]\n"model.bits" = 8\n')
    assert main(["sweep", str(spec), "-o", str(tmp_path / "r.csv")]) == 2
    assert "'model.bits' must be a non-empty list of values, got 8" in capsys.readouterr().err


def test_point_row_equals_a_direct_train_and_names_units():
    from quantkan.train import build_run, train

    spec = parse_spec(TINY)
    point = next(p for p in spec if p.settings["task.name"] == "qubit" and p.settings["model.kind"] == "kan")
    row = run_point(point, engine="compiled")
    model, stream, learning = build_run(*point.train_config())
    golden = train(model, stream, twin=False, show_progress=False, engine="numpy", **learning)
    want = {f"accuracy_r{r} [fraction]": fx for r, fx, _ in golden.per_regime(point.fraction)}
    assert row["status"] == "ok" and row["engine"] == "compiled"
    assert {k: row[k] for k in want} == want
    columns = columns_of(spec)
    assert set(row) <= set(columns)
    numeric = [c for c in columns if isinstance(row.get(c), (int, float))]
    assert numeric and all(c.endswith("]") for c in numeric), numeric


@pytest.mark.parametrize("kind", ["kan", "mlp"])
def test_seeds_as_one_population_score_as_points_one_by_one(kind):
    spec = parse_spec({"sweep": {"seeds": [0, 1, 2], "engine": "compiled"}, "base": {"task": {"n": 500}},
                       "grid": {"model.kind": [kind], "model.bits": [10]}})
    scores = [{k: v for k, v in row.items() if k.startswith("mse")} for row in run_seeds(spec.points)]
    assert scores == [{k: v for k, v in run_point(p, "numpy").items() if k.startswith("mse")} for p in spec]
    assert len({s["mse_mean [target^2]"] for s in scores}) == 3  # the seeds really differ


def test_each_row_names_the_update_delay_it_learned_with():
    """A pipeline sweep is a D sweep: the row says which D each point took, whichever path scored it."""
    from quantkan.train import build_run, hardware_delays

    kan = {"model.kind": "kan", "model.layers": [1, 2, 1]}
    spec = parse_spec({"sweep": {"seeds": [0, 1]}, "base": {"task": {"n": 300}},
                       "grid": {**{k: [v] for k, v in kan.items()}, "learning.pipeline": ["shallow", "deeper"]},
                       "points": [{**kan, "learning.delay": 3}]})
    for point in spec:
        model, _, learning = build_run(*point.train_config())
        want = [3, 3] if "learning.delay" in point.settings else hardware_delays(
            model, "pipelined", learning["lr"], learning["rounding"], point.settings["learning.pipeline"])
        assert json.loads(run_point(point, "numpy")["D [samples]"]) == want
    rows = run_seeds([p for p in spec if "learning.pipeline" in p.settings])
    assert len({r["D [samples]"] for r in rows}) == 2, "shallow and deeper differ"
    assert "D [samples]" in columns_of(spec)


def test_an_invalid_point_is_a_row_not_a_crash():
    spec = parse_spec({"base": {"model": {"kind": "kan", "layers": [1, 1], "order": 9}}})
    row = run_point(spec.points[0])
    assert row["status"] == "invalid" and "spline order must be in 1..5" in row["error"]


def test_hardware_columns_are_plugins(monkeypatch):
    calls = []

    def fake(model, learning, options, workdir):
        calls.append((model.kind, learning["lr"], options))
        return {"LUT [cells]": 100 * model.layers[0], "DSP [cells]": 3}

    monkeypatch.setitem(HARDWARE, "fake", HARDWARE["report"])  # removed again after the test
    register("fake", ("LUT [cells]", "DSP [cells]"), fake, options=("depth",))
    with pytest.raises(ValueError, match=r"unknown hardware setting 'hardware.width'; known: \[.*'hardware.depth'"):
        parse_spec({**TINY, "grid": {"hardware.width": [1]}})
    spec = parse_spec({**TINY, "sweep": {"hardware": ["fake"]}, "grid": {**TINY["grid"], "hardware.depth": [2]}})
    assert "hardware" not in spec.points[0].train_config()[0]
    columns = columns_of(spec)
    after = columns.index("throughput [samples/s]") + 1
    assert columns[after:after + 2] == ["LUT [cells]", "DSP [cells]"]
    row = run_point(spec.points[0])
    assert calls == [("kan", 0.125, {"depth": 2})] and row["LUT [cells]"] == 100 and row["DSP [cells]"] == 3


def test_tiny_sweep_on_two_workers_then_rerun_skips_everything(tmp_path):
    spec = parse_spec(TINY)
    out = tmp_path / "results.csv"
    first = run_sweep(spec, out, workers=2, show_progress=False)
    assert first["ran"] == len(spec) == 16 and first["failed"] == 0
    rows = read_rows(out)
    assert sorted(r["config_hash"] for r in rows) == sorted(p.key for p in spec)
    assert all(r["status"] == "ok" and r["engine"] == "compiled" for r in rows)
    assert all(float(r["mse_mean [target^2]"]) > 0 for r in rows if r["task.name"] == "drift")
    again = run_sweep(spec, out, workers=2, show_progress=False)
    assert again["skipped"] == 16 and again["ran"] == 0
    assert read_rows(out) == rows
    paths = sweep_figures(out, tmp_path / "figs")
    assert [p.name for p in paths] == ["results-bits.png", "results-params.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_results_table_drops_a_row_cut_by_a_crash(tmp_path):
    path = tmp_path / "r.csv"
    table = ResultsTable(path, ["config_hash", "status", "x [1]"])
    table.append({"config_hash": "a", "status": "ok", "x [1]": 1})
    table.append({"config_hash": "b", "status": "ok", "x [1]": 2})
    path.write_text(path.read_text() + "c,o")  # killed in the middle of a write
    reopened = ResultsTable(path, ["config_hash", "status", "x [1]", "y [s]"])
    assert reopened.done() == {"a", "b"}
    assert path.read_text().splitlines() == ["config_hash,status,x [1],y [s]", "a,ok,1,", "b,ok,2,"]


def test_killed_sweep_resumes_without_losing_or_redoing_points(tmp_path):
    """Kill the whole `quantkan sweep` process group halfway, rerun: every point once."""
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text('[sweep]\nseeds = [0, 1, 2, 3, 4, 5]\nengine = "numpy"\n[base.task]\nn = 400\n'
                         '[grid]\n"model.kind" = ["kan", "mlp"]\n"model.bits" = [8, 12]\n')
    out = tmp_path / "r.csv"
    command = [sys.executable, "-m", "quantkan", "sweep", str(spec_path), "-o", str(out), "--quiet",
               "--workers", "1"]
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 4):
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = read_rows(out)
    assert 3 <= len(before) < 24, len(before)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{24 - len(before)} points ran, {len(before)} already done, 0 failed" in done.stdout
    after = read_rows(out)
    assert after[:len(before)] == before
    assert sorted(r["config_hash"] for r in after) == sorted(p.key for p in load_spec(spec_path))


def test_pareto_front():
    cost = np.array([10, 20, 5, 30, 20])
    score = np.array([0.5, 0.2, 0.9, 0.1, 0.3])  # lower is better
    assert list(pareto(cost, score, higher_is_better=False)) == [2, 0, 1, 3]
    assert list(pareto(cost, score, higher_is_better=True)) == [2]


@pytest.mark.slow
def test_report_plugin_synthesizes_a_kan_and_an_mlp_point(tmp_path):
    """The real yosys run: LUT/FF/DSP cells, latency and II land in the row, for either kind."""
    spec = parse_spec({"sweep": {"hardware": ["report"]},
                       "base": {"task": {"n": 200}, "hardware": {"schedule": "sequential"}},
                       "grid": {"model.kind": ["kan", "mlp"], "model.bits": [8]}})
    kan, mlp = (run_point(p, workdir=str(tmp_path)) for p in spec)
    assert kan["LUT [cells]"] > 0 and kan["FF [cells]"] > 0 and kan["latency [cycles]"] > 0
    assert mlp["LUT [cells]"] > 0 and mlp["DSP [cells]"] > 0 and mlp["latency [cycles]"] > 0 and mlp["status"] == "ok"


def test_resource_figures_appear_with_synthesis_columns(tmp_path):
    columns = ["config_hash", "status", "model.bits [bit]", "task.name", "model", "params [count]",
               "mse_mean [target^2]", "LUT [cells]", "DSP [cells]"]
    table = ResultsTable(tmp_path / "synth.csv", columns)
    for i, bits in enumerate([6, 8, 10, 12]):
        for kind in ("KAN(layers=[1, 1], grid=(-1, 1, 8))", "MLP(layers=[1, 8, 1], weight=x)"):
            table.append({"config_hash": f"{kind[:3]}{i}", "status": "ok", "model.bits [bit]": bits,
                          "task.name": "drift", "model": kind, "params [count]": 11 if "KAN" in kind else 25,
                          "mse_mean [target^2]": 0.1 / bits, "LUT [cells]": 100 * bits, "DSP [cells]": i})
    names = [p.name for p in sweep_figures(tmp_path / "synth.csv", tmp_path)]
    assert names == ["synth-bits.png", "synth-params.png", "synth-lut.png", "synth-dsp.png"]


def test_sweep_on_an_existing_scheduler(tmp_path):
    """--scheduler ADDRESS: the points go to a cluster someone else started."""
    from dask.distributed import LocalCluster

    spec = parse_spec({"sweep": {"seeds": [0, 1]}, "base": {"task": {"n": 300}}, "grid": {"model.bits": [8, 10]}})
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        summary = run_sweep(spec, tmp_path / "r.csv", scheduler=cluster.scheduler_address, show_progress=False)
    assert summary["ran"] == 4 and summary["failed"] == 0
    assert len(read_rows(tmp_path / "r.csv")) == 4

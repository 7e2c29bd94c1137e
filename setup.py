"""Ship the repository's top-level ``boards/`` and ``sim/`` inside the wheel, as ``quantkan/_data/``.

They stay at the top of the repository (board definitions and testbenches are not Python
package code), but ``quantkan boards``, ``build`` and ``sim`` need them after a plain
``pip install``: ``quantkan.resources.shipped_dir`` finds them in either place.
Everything else about the build is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("boards", "sim")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads them from the source tree
            return
        for name in SHIPPED:
            target = Path(self.build_lib) / "quantkan" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(Path(__file__).parent / name, target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "sim_build"))


setup(cmdclass={"build_py": BuildPyWithData})

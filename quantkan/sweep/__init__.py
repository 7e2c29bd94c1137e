"""Design-space sweeps: a spec of points, run on Dask distributed, results in one CSV.

Dask is imported only when a sweep runs (``pip install 'quantkan[sweep]'``).
"""

from quantkan.sweep.run import ResultsTable, run_point, run_seeds, run_sweep
from quantkan.sweep.spec import Point, SweepSpec, load_spec, parse_spec

__all__ = ["Point", "SweepSpec", "load_spec", "parse_spec", "ResultsTable", "run_point", "run_seeds", "run_sweep"]

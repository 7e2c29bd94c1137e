"""``quantkan sweep``: run a spec's points on Dask distributed, append results, draw the figures."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_commands"]


def _sweep(args: argparse.Namespace) -> int:
    from quantkan.sweep.run import run_sweep
    from quantkan.sweep.spec import load_spec

    spec = load_spec(args.spec)
    output = Path(args.output or Path("out") / f"sweep-{Path(args.spec).stem}.csv")
    where = f"scheduler {args.scheduler}" if args.scheduler else f"a LocalCluster of {args.workers} workers"
    print(f"quantkan sweep: {len(spec)} points from {args.spec} on {where}; results {output}", flush=True)
    summary = run_sweep(spec, output, scheduler=args.scheduler, workers=args.workers, show_progress=not args.quiet)
    print(f"{summary['ran']} points ran, {summary['skipped']} already done, {summary['failed']} failed "
          f"in {summary['seconds']:.1f} s")
    if args.plot:
        from quantkan.sweep.plot import sweep_figures

        for path in sweep_figures(output, args.plot):
            print(f"wrote plot {path}")
    return 1 if summary["failed"] else 0


def add_commands(sub: argparse._SubParsersAction, export: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a design-space sweep (TOML spec) on Dask, results in one CSV")
    p.add_argument("spec", help="a sweep spec (TOML), e.g. examples/sweeps/precision_study.toml")
    p.add_argument("-o", "--output", help="results CSV (default out/sweep-<spec name>.csv); "
                                          "points already in it are skipped")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster here)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    p.add_argument("--plot", metavar="DIR", help="write figures (metric vs bits, vs parameters, vs LUT/DSP) here")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=_sweep)

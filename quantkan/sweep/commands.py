"""``quantkan sweep``: run a spec's points on Dask distributed, append results, draw the figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from quantkan.options import add_config, add_output, positive_int

__all__ = ["add_commands"]


def _sweep(args: argparse.Namespace) -> int:
    from quantkan.sweep.run import run_sweep
    from quantkan.sweep.spec import load_spec

    spec = load_spec(args.config)
    output = Path(args.output or Path("out") / f"sweep-{Path(args.config).stem}.csv")
    where = f"scheduler {args.scheduler}" if args.scheduler else f"a LocalCluster of {args.workers} workers"
    print(f"quantkan sweep: {len(spec)} points from {args.config} on {where}; results {output}", flush=True)
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
    add_config(p, "a sweep spec: [sweep], [base], [grid] and/or [[points]], e.g. "
                  "examples/sweeps/precision_study.toml")
    add_output(p, "the results CSV (default: out/sweep-<spec name>.csv); points already in it are skipped")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster here)")
    p.add_argument("--workers", type=positive_int, default=2, help="worker processes of the LocalCluster")
    p.add_argument("--plot", metavar="DIR", help="write figures here (metric vs bits, vs parameters, vs LUT/DSP)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=_sweep)

"""``quantkan boards``, ``quantkan build``, ``quantkan flash`` and ``quantkan stream``: from a model to a board."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from quantkan.options import add_config, add_model_file, add_output, positive_float, positive_int
from quantkan.rtl import PIPELINES, SCHEDULES
from quantkan.rtl.commands import PIPELINE_HELP

__all__ = ["add_commands"]

DEFAULT_BAUD = 115200  # quantkan.boards.top.DEFAULT_BAUD, without importing Amaranth here


def _boards(args: argparse.Namespace) -> int:
    from quantkan.boards.registry import board_names, load_board

    if args.board:
        print(json.dumps(load_board(args.board).describe(), indent=2))
        return 0
    for name in board_names():
        b = load_board(name)
        made = "bitstream here" if b.flow == "yowasp" else ("Vivado OOC project" if b.kind == "part" else "Vivado project")
        print(f"{name:<14}{b.part:<24}{b.clock_hz / 1e6:>7g} MHz  {made:<20}{b.title}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from quantkan.boards.registry import load_board
    from quantkan.rtl.commands import load_model

    board = load_board(args.board)
    for given, option in ((args.nextpnr_opts, "--nextpnr-opts"), (args.timeout, "--timeout")):
        if board.flow == "vivado" and given:
            raise ValueError(f"{option} is for the boards nextpnr builds here; {board.name} is built with Vivado")
    model, _, learning = load_model(args.config, args.model, replaces_config=args.model_replaces_config,
                                    pipeline=args.pipeline)
    out = Path(args.output or Path("build") / board.name)
    settings = dict(schedule=args.schedule, lr=learning["lr"], rounding=learning["rounding"], seed=learning["seed"],
                    pipeline=learning["pipeline"])
    print(f"quantkan build: {model!r} for {board.title} ({board.part})", flush=True)
    if board.flow == "vivado":
        from quantkan.boards.vivado import write_project

        project = write_project(board, model, out, baud=args.baud, ooc_mhz=args.ooc_clock, **settings)
        print(f"wrote the Vivado project {project.path} ({len(project.files)} files):")
        for f in project.files:
            print(f"  {f}")
        for script in project.scripts:
            if script != "program.tcl":
                print(f"build with Vivado: {project.command(script)}")
        return 0
    from quantkan.boards.lattice import build_bitstream
    from quantkan.boards.top import BoardTop, board_core

    core = board_core(board, model, args.baud, **settings)
    started = time.perf_counter()
    result = build_bitstream(board, BoardTop(board, core), out, allow_timing_fail=args.allow_timing_fail,
                             nextpnr_opts=args.nextpnr_opts or (),
                             timeout=None if args.timeout is None else args.timeout * 60)
    (out / "quantkan_board.json").write_text(json.dumps(
        {"board": board.name, "part": board.part, "clock_mhz": board.clock_hz / 1e6, "baud": core.clk_hz // core.divisor,
         "spec": core.spec.as_dict()}, indent=2) + "\n")
    print(result.table())
    print(f"wrote {result.bitstream} in {time.perf_counter() - started:.0f} s; reports {out / 'report.json'}, "
          f"{out / 'report.txt'}")
    print(f"next: quantkan flash --board {board.name} {result.bitstream}\n"
          f"      quantkan stream {args.config} --port <serial port> --baud {args.baud}")
    return 0


def _flash(args: argparse.Namespace) -> int:
    from quantkan.boards.flash import flash
    from quantkan.boards.registry import load_board

    board = load_board(args.board)
    argv = flash(board, args.bitstream, dry_run=args.dry_run)
    print(("would run: " if args.dry_run else "ran: ") + " ".join(argv))
    return 0


class _Progress:
    """A progress line on stderr, redrawn in place when it is a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.live = total, enabled and sys.stderr.isatty()
        self.started = time.perf_counter()

    def __call__(self, done: int) -> None:
        if self.live and (done % 50 == 0 or done == self.total):
            rate = done / max(time.perf_counter() - self.started, 1e-9)
            print(f"\rstream {done}/{self.total} ({rate:,.0f} samples/s)", end="", file=sys.stderr, flush=True)
            if done == self.total:
                print(file=sys.stderr)


def _stream(args: argparse.Namespace) -> int:
    import numpy as np

    from quantkan.boards.host import Client, SerialLink, run_stream
    from quantkan.boards.protocol import Spec
    from quantkan.rtl.commands import load_model

    model, stream, learning = load_model(args.config, args.model, args.n, replaces_config=args.model_replaces_config,
                                         pipeline=args.pipeline)
    spec = Spec.for_model(model, args.schedule, learning["lr"], learning["rounding"], learning["seed"],
                          learning["pipeline"])
    ty = model.types
    x, target = ty.input.quantize(stream.x), ty.output.quantize(stream.target)
    learn = np.ones(len(x), bool)
    print(f"quantkan stream: {stream.name}, {len(x)} samples to {args.port} at {args.baud} baud; {model!r}", flush=True)
    with SerialLink(args.port, args.baud, timeout=args.timeout) as link:
        link.resync()
        result = run_stream(Client(link, spec), model, x, target, learn, learning["lr"], learning["rounding"],
                            learning["seed"], load=not args.no_load, on_sample=_Progress(len(x), not args.quiet))
    h = result.hello
    print(f"board: {h.n_in} in, {h.n_out} out, {h.schedule}, latency {h.latency} cycles at {h.clk_hz / 1e6:g} MHz "
          f"({1e3 * h.latency / h.clk_hz:.3g} us per prediction on chip), status {h.status_text()}")
    mse = float(np.mean((ty.output.to_float(result.y) - stream.target) ** 2))
    print(f"{result.samples} samples in {result.seconds:.1f} s ({result.samples_per_second:,.0f}/s over the link); "
          f"MSE {mse:.3e}; predictions differing from the golden model: {result.output_mismatches}; "
          f"coefficients differing after the stream: {result.coefficient_mismatches}/{result.coefficients_compared}")
    if result.counters is not None:
        print("diagnostics counters: " + ", ".join(f"{n} {v}" for n, v in zip(spec.counter_names, result.counters))
              + f"; differing from the golden model: {result.counter_mismatches}")
    print("PASS: the board learns bit for bit as the golden model" if result.ok else "FAIL: the board and the golden "
          "model disagree")
    return 0 if result.ok else 1


def add_commands(sub: argparse._SubParsersAction, export: argparse._SubParsersAction) -> None:
    p = sub.add_parser("boards", help="list the boards quantkan builds for (or show one's pins)")
    p.add_argument("--board", help="show this board's part, clock, UART and LED pins")
    p.set_defaults(run=_boards)

    p = sub.add_parser("build", help="a bitstream (Lattice boards, built here) or a Vivado project (Xilinx boards)")
    add_config(p, "the model and its learning settings")
    p.add_argument("--board", required=True, help="a board name (quantkan boards lists them)")
    add_output(p, "output folder (default: build/<board>)")
    add_model_file(p)
    p.add_argument("--schedule", choices=SCHEDULES, default="pipelined", help="how samples enter the pipeline")
    p.add_argument("--pipeline", choices=PIPELINES, help=PIPELINE_HELP)
    p.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD, help="UART baud rate")
    p.add_argument("--ooc-clock", type=positive_float, default=200.0,
                   help="MHz: the out-of-context clock of Vivado projects (200: the paper's)")
    p.add_argument("--allow-timing-fail", action="store_true", help="write the bitstream even if timing fails")
    p.add_argument("--nextpnr-opts", type=shlex.split, metavar="OPTS",
                   help="more nextpnr options (Lattice boards), e.g. '--seed 2' or '--placer-heap-timingweight 40'")
    p.add_argument("--timeout", type=positive_float, metavar="MINUTES",
                   help="stop place and route after this long (Lattice boards; nextpnr's router can crawl on a "
                        "congested placement that another seed routes in minutes)")
    p.set_defaults(run=_build)

    p = sub.add_parser("flash", help="load a bitstream into a board (openFPGALoader or Vivado)")
    p.add_argument("bitstream", help="the .bit (.bin for iCE40) file that quantkan build wrote")
    p.add_argument("--board", required=True, help="the board it was built for")
    p.add_argument("--dry-run", action="store_true", help="print the programmer's command, do not run it")
    p.set_defaults(run=_flash)

    p = sub.add_parser("stream", help="stream a task to a board over its UART and compare with the golden model")
    add_config(p, "the file the bitstream was built from")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD, help="UART baud rate it was built with")
    add_model_file(p, "load into the board first")
    p.add_argument("--schedule", choices=SCHEDULES, default="pipelined", help="the schedule it was built with")
    p.add_argument("--pipeline", choices=PIPELINES, help="the pipeline it was built with (default: the config's "
                                                         "[learning] pipeline, else deep)")
    p.add_argument("--n", type=positive_int, help="samples (default: the config's task length)")
    p.add_argument("--no-load", action="store_true",
                   help="keep the board's coefficients (compares only right after flashing)")
    p.add_argument("--timeout", type=positive_float, default=2.0, help="seconds to wait for each response")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=_stream)

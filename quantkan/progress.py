"""A dependency-free progress line for long streams (stderr, redrawn in place)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int, label: str = "", stream: TextIO | None = None,
             enabled: bool = True, every: float = 0.2) -> Iterator[T]:
    """Yield ``items`` while showing done/total, percentage and rate at most every ``every`` s."""
    out = stream or sys.stderr
    live = enabled and out.isatty()  # a log file gets only the final line
    start = last = time.perf_counter()
    n = 0

    def draw(final: bool = False) -> None:
        elapsed = max(time.perf_counter() - start, 1e-9)
        filled = int(24 * n / total) if total else 24
        out.write(f"\r{label} [{'#' * filled}{'.' * (24 - filled)}] {n}/{total} "
                  f"{n / elapsed:,.0f}/s" + ("\n" if final else ""))
        out.flush()

    for n, item in enumerate(items, 1):
        yield item
        now = time.perf_counter()
        if live and now - last >= every:
            last = now
            draw()
    if enabled:
        draw(final=True)

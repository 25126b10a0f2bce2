"""Compose benchmark: the time `practice compose` takes to make a session, without synthesis,
in this process (the command's own start-up is not counted). Not a test: it asserts nothing.

    .venv/bin/python benchmarks/bench_compose.py [--repeat N]

For each request: the median and the slowest of N runs of compose (choosing, writing the
script, checking its length) and of the plan (`--plan`: a fitted timeline with estimated cue
lengths). The library is read once first, as a command does once per process.
"""

from __future__ import annotations

import argparse
import statistics
import time

from player.compose.composer import ComposeRequest, compose, plan
from player.compose.library import load_library

REQUESTS = [
    ComposeRequest("lower-back", 20 * 60_000, frozenset(), 1),
    ComposeRequest("all", 60 * 60_000, frozenset(), 2),
    ComposeRequest("strength", 30 * 60_000, frozenset({"belly-down", "twist"}), 3),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    started = time.perf_counter()
    library = load_library()
    print(f"library: {len(library.entries)} poses read in {time.perf_counter() - started:.3f} s")
    for request in REQUESTS:
        composing, planning = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            composition = compose(request, library)
            composing.append(time.perf_counter() - started)
            started = time.perf_counter()
            plan(composition)
            planning.append(time.perf_counter() - started)
        minutes = request.length_ms // 60_000
        avoid = f" avoiding {','.join(sorted(request.avoid))}" if request.avoid else ""
        print(
            f"{request.focus} {minutes}m{avoid}: "
            f"compose median {statistics.median(composing):.3f} s"
            f" (slowest {max(composing):.3f}), plan median {statistics.median(planning):.3f} s"
            f" (slowest {max(planning):.3f})"
        )


if __name__ == "__main__":
    main()

"""The long chaos run: ``python -m bench.chaos`` (10,000 orders, 20 kills), ``--quick`` for a
short one (about a minute), ``--out FILE`` for its figures as JSON.

The run is :func:`tests.chaos.harness.run_chaos`: the real daemon killed with SIGKILL at
random calls under faults in every sandbox, restarted on its state, and the shop judged once
settled. The exit code is 0 only if every invariant held.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

from daemon.logs import configure_logging
from tests.chaos.harness import ChaosOptions, ChaosResult, git_commit, run_chaos

QUICK = ChaosOptions(orders=120, kills=3)
"""``--quick``: a run that ends within a minute on two cores."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rate",
        type=float,
        default=ChaosOptions().orders_per_second,
        help="orders placed per second",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK.orders} orders, {QUICK.kills} kills"
    )
    parser.add_argument("--out", type=Path, help="write the figures to this file as JSON")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="run in DIR (made if missing) and leave its config, state and logs there",
    )
    args = parser.parse_args(argv)
    if args.quick:
        options = ChaosOptions(
            orders=QUICK.orders, kills=QUICK.kills, seed=args.seed, orders_per_second=args.rate
        )
    else:
        options = ChaosOptions(
            orders=args.orders, kills=args.kills, seed=args.seed, orders_per_second=args.rate
        )
    if args.keep is None:
        with tempfile.TemporaryDirectory(prefix="shelfsync-chaos-") as folder:
            result = _run(options, Path(folder))
    else:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = _run(options, args.keep)
    figures = _figures(result)
    print(_table(figures))
    if not result.consistent:
        print(result.explain(), file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if result.consistent else 1


def _run(options: ChaosOptions, workdir: Path) -> ChaosResult:
    with (workdir / "settle.log").open("w") as log:
        # The daemon that settles the shop runs in this process: its log goes to a file.
        configure_logging("info", log)
        return trio.run(run_chaos, options, workdir)


def _figures(result: ChaosResult) -> dict[str, Any]:
    return {
        **result.figures(),
        "seed": result.options.seed,
        "orders_per_second": result.options.orders_per_second,
        "problems": result.problems,
        "cpu_count": os.cpu_count(),
        "git_commit": git_commit(),
    }


def _table(figures: dict[str, Any]) -> str:
    rows = [(key, figures[key]) for key in figures if key not in ("problems",)]
    width = max(len(key) for key, _ in rows)
    lines = [f"  {key:<{width}}  {value}" for key, value in rows]
    verdict = "consistent" if not figures["problems"] else "INCONSISTENT"
    return "\n".join(["shelfsync chaos run", *lines, f"  {'verdict':<{width}}  {verdict}"])


if __name__ == "__main__":
    sys.exit(main())

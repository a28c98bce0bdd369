"""What every benchmark shares: the machine it ran on, its command line, and its report (a
two-column table on stdout and, with ``--out FILE``, the same figures as JSON)."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess

_REPO = pathlib.Path(__file__).resolve().parent.parent


def machine() -> dict[str, object]:
    """The core count, the checkout's commit (``unknown`` outside git), the Python version and
    the load average when the figures were taken (the machine may be shared)."""
    found = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True, text=True, check=False
    )
    return {
        "cpu_count": os.cpu_count(),
        "git_commit": found.stdout.strip() or "unknown",
        "python": platform.python_version(),
        "load_avg": [round(load, 2) for load in os.getloadavg()],
    }


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process ``pid`` has used so far (Linux's ``/proc``)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def emit(name: str, figures: dict[str, object], out: pathlib.Path | None) -> None:
    """Print ``figures`` as a table titled ``name``; write them, with :func:`machine`, as JSON
    to ``out`` when given."""
    report = {"benchmark": name, **machine(), **figures}
    width = max(len(key) for key in report)
    print(name)
    for key, value in report.items():
        print(f"  {key:<{width}}  {json.dumps(value) if isinstance(value, dict) else value}")
    if out is not None:
        out.write_text(json.dumps(report, indent=2) + "\n")


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with ``--quick`` (a run that ends within a minute) and ``--out``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a smaller run, within 60 seconds")
    parser.add_argument("--out", type=pathlib.Path, help="write the figures to this file as JSON")
    return parser

"""What every benchmark shares: the machine it ran on, its ``--quick`` and ``--out`` options,
and how its figures are printed and written."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def machine() -> dict[str, object]:
    """The core count, the checkout's commit (``unknown`` outside git) and the Python version."""
    found = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return {
        "cpu_count": os.cpu_count(),
        "git_commit": found.stdout.strip() or "unknown",
        "python": platform.python_version(),
    }


def emit(name: str, figures: dict[str, object], out: pathlib.Path | None) -> None:
    """Print ``figures`` as a two-column table titled ``name``; write them, with
    :func:`machine`, as JSON to ``out`` when given."""
    document = {"benchmark": name, **machine(), **figures}
    width = max(len(key) for key in document)
    print(name)
    for key, value in document.items():
        print(f"  {key:<{width}}  {value}")
    if out is not None:
        out.write_text(json.dumps(document, indent=2) + "\n")


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with ``--quick`` (a run that ends within 60 seconds) and ``--out``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a smaller run, within 60 seconds")
    parser.add_argument("--out", type=pathlib.Path, help="write the figures to this file as JSON")
    return parser

"""The `bioscan-repro` command: one subcommand per pipeline stage, each defined beside its stage's code."""
from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines `add_cli(subparsers)`, adding its subcommand(s) with `set_defaults(run=callable)`.
STAGE_MODULES = ("runner", "report", "sample", "statistics", "download", "extract", "split", "preprocess", "train", "evaluate", "sweep", "predict")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every stage's subcommands."""
    parser = argparse.ArgumentParser(
        prog="bioscan-repro",
        description="Reproduce the BIOSCAN-1M Insect paper: data, statistics, splits, preprocessing, training, tests.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGE_MODULES:
        importlib.import_module(f"bioscan_lib.{name}").add_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a known kind of bad input prints its message and exits with status 2."""
    arguments = build_parser().parse_args(argv)
    try:
        return int(arguments.run(arguments) or 0)
    except (FileNotFoundError, ValueError) as error:
        print(f"bioscan-repro {arguments.command}: {error}", file=sys.stderr)
        return 2

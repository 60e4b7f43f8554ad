"""The ``bayesflight`` command: one subcommand per module in ``bayesflight.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines ``add_parser(subparsers)`` and ``run(args) -> int``. A command that
# parses its own arguments (``train``: its parser is built from a dataclass by transformers,
# too slow an import for every command) sets ``takes_argv`` and receives them as ``args.argv``.
COMMANDS = ("simulate", "make_eval", "generate", "evaluate", "train", "reproduce",
            "fetch_model")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayesflight",
        description="Bayesian teaching of language models: simulate, generate, train, evaluate.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"bayesflight.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "takes_argv", False):
        args.argv = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError, PermissionError) as err:
        print(f"bayesflight {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``bayesflight`` command: one subcommand per module in ``bayesflight.commands``.

Every failure a user can cause ends in one line naming the problem (exit status 2), and
Ctrl-C in one line saying what was kept and how to go on (exit status 130), never in a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from . import __version__

# Each module defines ``add_parser(subparsers)`` and ``run(args) -> int``, and may define
# ``interrupted(args) -> str``: what an interrupted run kept and how to continue it. A
# command that parses its own arguments (``train``: its parser is built from a dataclass by
# transformers, too slow an import for every command) sets ``takes_argv`` and receives
# them as ``args.argv``.
COMMANDS = ("simulate", "make_eval", "generate", "evaluate", "train", "export_checkpoint",
            "probe", "reproduce", "fetch_model", "init_model")
NOTHING_HALF_WRITTEN = "no file was left half-written; rerun the command to start again"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayesflight",
        description="Bayesian teaching of language models: simulate, generate, train, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"bayesflight {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        _module(name).add_parser(sub)
    return parser


def _module(command: str) -> ModuleType:
    return importlib.import_module(f"bayesflight.commands.{command.replace('-', '_')}")


def interrupted_note(args: argparse.Namespace) -> str:
    """What the interrupted command kept and how to continue, from the command's module."""
    note = getattr(_module(args.command), "interrupted", None)
    try:
        return note(args) if note is not None else NOTHING_HALF_WRITTEN
    except Exception:  # the note must never turn an interruption into a traceback
        return NOTHING_HALF_WRITTEN


def error_line(err: BaseException) -> str:
    """The one line an error is reported as: its message, or for an OS error its reason
    and the file it concerns."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        return f"{err.filename}: {err.strerror.lower()}"
    return str(err) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
    except KeyboardInterrupt:
        print("\nbayesflight: interrupted before starting; nothing was written", file=sys.stderr)
        return 130
    if getattr(args, "takes_argv", False):
        args.argv = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"\nbayesflight {args.command}: interrupted; {interrupted_note(args)}",
              file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:
        print(f"bayesflight {args.command}: error: {error_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

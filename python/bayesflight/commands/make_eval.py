"""``bayesflight make-eval``: write a generated evaluation set in the paper's file format."""

from __future__ import annotations

import argparse

from ..evalfiles import write_eval_files
from .options import add_evalset_arguments, evalset_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "make-eval", help="write a generated evaluation set in the paper's file format",
        description="Write OUT/interaction/<domain>.jsonl and OUT/heldout/<domain>.json.")
    add_evalset_arguments(parser, files=False)
    parser.add_argument("--out", required=True, help="output directory")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    evalset = evalset_from_args(args)
    interactions, heldout = write_eval_files(evalset, args.out)
    print(f"wrote {evalset.n_users} users x {evalset.n_rounds} rounds to {interactions}")
    print(f"wrote {evalset.n_heldout} held-out sets to {heldout}")
    return 0

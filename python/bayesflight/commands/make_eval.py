"""``bayesflight make-eval``: write a generated evaluation set in the paper's file format.

Also home of the evaluation-set options every command that builds one shares
(``--domain --seed --users --user-pool --rounds --heldout --options --user-noise``).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..domains import DOMAIN_NAMES, get_domain
from ..evalfiles import load_eval_set, write_eval_files
from ..evalset import EvalSet, make_eval_set
from ..reference import ChoiceModel
from ..users import USER_POOLS


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0 (seeds)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return int(text)


def add_evalset_arguments(parser: argparse.ArgumentParser, files: bool = True) -> None:
    """The options that define a generated evaluation set, and (``files``) those that read
    one from the paper's files instead."""
    group = parser.add_argument_group("evaluation set")
    group.add_argument("--domain", choices=DOMAIN_NAMES, default=None,
                       help="recommendation domain (default: flight)")
    group.add_argument("--seed", type=non_negative_int, default=0,
                       help="seed of the users, rounds and held-out sets (default 0)")
    group.add_argument("--users", type=positive_int, default=None,
                       help="a seeded sample of this many users (default: every user, "
                            "624 for 4 features)")
    group.add_argument("--user-pool", choices=USER_POOLS, default="all",
                       help="draw users from all, or the train or eval split (default all)")
    group.add_argument("--rounds", type=positive_int, default=5,
                       help="interaction rounds per user (default 5)")
    group.add_argument("--heldout", type=positive_int, default=100,
                       help="held-out option sets, the same for every user (default 100)")
    group.add_argument("--options", type=positive_int, default=3,
                       help="options per set (default 3)")
    group.add_argument("--user-noise", default="deterministic",
                       help="how users choose: deterministic, softmax:BETA or epsilon:EPS "
                            "(default deterministic, as in the paper)")
    if files:
        paper = parser.add_argument_group("the paper's files (instead of a generated set)")
        paper.add_argument("--interactions", default=None, help="interaction JSONL file")
        paper.add_argument("--heldout-file", default=None, help="held-out JSON file")


def evalset_from_args(args: argparse.Namespace) -> EvalSet:
    """The evaluation set the shared options describe: read from the paper's files when
    they are given, else generated."""
    interactions, heldout = getattr(args, "interactions", None), getattr(args, "heldout_file", None)
    if (interactions is None) != (heldout is None):
        raise ValueError("--interactions and --heldout-file go together")
    if interactions is not None:
        return load_eval_set(interactions, heldout,
                             get_domain(args.domain) if args.domain else None,
                             ChoiceModel.parse(args.user_noise))
    return make_eval_set(
        get_domain(args.domain or "flight"),
        seed=args.seed,
        n_users=args.users,
        n_rounds=args.rounds,
        n_heldout=args.heldout,
        options_per_round=args.options,
        user_model=ChoiceModel.parse(args.user_noise),
        users=args.user_pool,
    )


def evalset_config(args: argparse.Namespace, evalset: EvalSet) -> dict[str, Any]:
    """What results.json records of the evaluation set a command ran on."""
    return {
        "domain": evalset.domain.name,
        "seed": evalset.seed,
        "n_users": evalset.n_users,
        "user_pool": None if args.interactions else args.user_pool,
        "n_rounds": evalset.n_rounds,
        "n_heldout": evalset.n_heldout,
        "options_per_round": evalset.n_options,
        "user_noise": args.user_noise,
        "interactions": args.interactions,
        "heldout_file": args.heldout_file,
    }


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

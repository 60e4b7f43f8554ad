"""``bayesflight generate``: write Bayesian or oracle teaching dialogues as chat JSONL."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..cards import DATASET_FILE, check_hub, write_dataset_card
from ..domains import DOMAIN_NAMES, get_domain
from ..evalfiles import read_heldout_sets
from ..evidence import FORMS as EVIDENCE_FORMS
from ..heldout import DEFAULT_HELDOUT_SETS
from ..teacher import TEACHERS, TeachingConfig
from ..teacher_jsonl import write_dialogues
from ..users import USER_POOLS
from .options import (
    CHOICE_MODELS,
    USER_NOISE_HELP,
    USER_POOL_HELP,
    choice_model,
    deprecated_alias,
    int_at_least,
    non_negative_int,
    positive_int,
    user_model,
    warn_deprecated,
)


class _UsersAction(argparse.Action):
    """``--users N``: a count. The pool names it once took (all, train, eval) still work one
    release as the deprecated spelling of ``--user-pool``."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values in USER_POOLS:
            warn_deprecated(f"--users {values}", f"--user-pool {values}")
            namespace.user_pool = values
            return
        try:
            namespace.users = positive_int(values)
        except argparse.ArgumentTypeError as err:
            parser.error(f"argument --users: {err}")

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write teaching dialogues (Bayesian or oracle) in the paper's chat format",
        description=(
            "Simulated users talk with a teacher for R rounds; each line of the JSONL output "
            "is one dialogue: idx, messages (the paper's chat format), option_probs (the "
            "teacher's probability of each option at each assistant turn: the Bayesian "
            "posterior predictive, one-hot for the oracle), teacher, domain, user_id, reward_fn "
            "and choices (the users' revealed choices). The Bayesian teacher assumes the users' "
            "choice model; the oracle recommends the user's actual choice, so it is always "
            "right, also with noisy users. No round shows one of the held-out option sets of "
            "the evaluation with --heldout-seed. The same arguments give the same bytes."
        ),
    )
    parser.add_argument("--teacher", choices=TEACHERS, required=True,
                        help="bayesian: the exact Bayesian assistant's answers and posterior "
                             "predictive; oracle: the user's actual choice (required)")
    parser.add_argument("--domain", choices=DOMAIN_NAMES, default="flight",
                        help="recommendation domain (default flight)")
    parser.add_argument("--dialogues", type=positive_int, required=True,
                        help="number of dialogues (required)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the users and their option sets (default 0)")
    parser.add_argument("--out", required=True,
                        help="the JSONL file to write; or a directory (one that exists, or a "
                             "path ending in /), which gets the dialogues as train.jsonl and a "
                             "dataset card, README.md, that datasets.load_dataset(DIR) reads "
                             "(required)")
    users = parser.add_argument_group("users")
    users.add_argument("--users", action=_UsersAction, default=None, metavar="N",
                       help="a seeded sample of this many users of the pool, which the "
                            "dialogues go through in shuffled passes, so each appears equally "
                            "often give or take one (default: every user of the pool)")
    users.add_argument("--user-pool", choices=USER_POOLS, default="all",
                       help=USER_POOL_HELP + "; the paper taught and evaluated on the same "
                            "reward functions and kept only the option sets apart")
    users.add_argument("--rounds", type=positive_int, default=5,
                       help="interaction rounds per dialogue (default 5)")
    users.add_argument("--options", type=int_at_least(2), default=3,
                       help="options per set (default 3)")
    users.add_argument("--user-noise", type=choice_model, default="deterministic",
                       metavar=CHOICE_MODELS, help=USER_NOISE_HELP)
    deprecated_alias(users, "--options-per-round", "--options", "options",
                     type=int_at_least(2))
    heldout = parser.add_argument_group(
        "held-out sets the dialogues avoid (those of the evaluation set)")
    heldout.add_argument("--heldout-seed", type=non_negative_int, default=None,
                         help="seed of the evaluation set whose held-out option sets the "
                              "dialogues avoid (default: --seed)")
    heldout.add_argument("--heldout", type=non_negative_int, default=DEFAULT_HELDOUT_SETS,
                         help="number of held-out sets in that evaluation set (default "
                              f"{DEFAULT_HELDOUT_SETS})")
    heldout.add_argument("--heldout-file", default=None, metavar="PATH",
                         help="avoid the held-out sets of this file in the paper's format "
                              "(make-eval writes one) instead of a seeded draw (default: "
                              "the seeded draw)")
    deprecated_alias(heldout, "--heldout-sets", "--heldout", "heldout",
                     type=non_negative_int)
    parser.add_argument("--statements", action="store_true",
                        help="belief-state teaching (bayesian teacher only): each teacher turn "
                        "first states its belief about the user, each feature's posterior mean "
                        "weight in words ('So far: price: cheaper (strong); ...'), then "
                        "recommends (default: off, the paper's plain answers)")
    parser.add_argument("--scores", action="store_true",
                        help="with belief statements (implies --statements): each teacher turn "
                        "then scores every option against its statement, term by term ('Flight "
                        "1 scores 14 + 0 = 14.'), and recommends the best total, so that acting "
                        "on the statement is written out (default: off)")
    parser.add_argument("--evidence", nargs="?", const="differences", choices=EVIDENCE_FORMS,
                        metavar="FORM",
                        help="with belief statements (implies --statements): each teacher turn "
                        "after the first opens with what the user's last choice reveals, the "
                        "chosen option against each one passed over, feature by feature, in "
                        "option points: 'differences' (the default form: 'Flight 2 over "
                        "Flight 1: departure time +4, duration -3.') or 'worked' (each "
                        "difference after its two operands: 'departure time 9 - 5 = +4'), so "
                        "that the next statement follows written-out evidence (default: off)")
    parser.set_defaults(run=run)


def _is_dataset_dir(out: str) -> bool:
    """Whether --out names a dataset directory: one that exists, or a path ending in /."""
    return Path(out).is_dir() or out.endswith(("/", os.sep))


def _check_writable(out: str) -> None:
    """Fail before any work when --out cannot be written."""
    path = Path(out)
    if _is_dataset_dir(out) and path.is_dir():
        path = path / DATASET_FILE
    parent = path.parent
    if not parent.is_dir():
        raise ValueError(f"--out: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out: directory {str(parent)!r} is not writable")


def run(args: argparse.Namespace) -> int:
    _check_writable(args.out)
    directory = Path(args.out) if _is_dataset_dir(args.out) else None
    if directory is not None:
        check_hub()
    heldout = None
    if args.heldout_file is not None:
        if args.heldout_seed is not None:
            raise ValueError("--heldout-file and --heldout-seed exclude each other")
        heldout = read_heldout_sets(args.heldout_file, get_domain(args.domain))
    config = TeachingConfig(
        teacher=args.teacher,
        domain=get_domain(args.domain),
        n_dialogues=args.dialogues,
        seed=args.seed,
        n_rounds=args.rounds,
        n_options=args.options,
        choice_model=user_model(args.user_noise),
        users=args.user_pool,
        n_users=args.users,
        heldout_seed=args.heldout_seed,
        n_heldout=args.heldout,
        heldout=heldout,
        statements=args.statements or args.scores or args.evidence is not None,
        scores=args.scores,
        evidence=args.evidence,
    )
    if directory is not None:
        directory.mkdir(exist_ok=True)
    summary = write_dialogues(args.out if directory is None else directory / DATASET_FILE,
                              config)
    if directory is not None:
        write_dataset_card(directory, config, summary.n_redrawn, heldout_file=args.heldout_file)
    print(f"wrote {summary.n_dialogues} {args.teacher} dialogues to {summary.path} "
          f"({summary.n_redrawn} rounds redrawn to avoid held-out sets)", file=sys.stderr)
    return 0

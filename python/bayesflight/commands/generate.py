"""``bayesflight generate``: write Bayesian or oracle teaching dialogues as chat JSONL."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..cards import DATASET_FILE, check_hub, write_dataset_card
from ..domains import DOMAIN_NAMES, get_domain
from ..heldout import DEFAULT_HELDOUT_SETS
from ..reference import ChoiceModel
from ..teacher import TEACHERS, TeachingConfig
from ..teacher_jsonl import write_dialogues
from ..users import USER_POOLS

USERS_HELP = (
    "which of the 624 reward functions the dialogues use: 'all' (default, as the paper, which "
    "taught and evaluated on the same reward functions and kept only the option sets apart), "
    "or the 'train' / 'eval' side of the fixed split of bayesflight.sampling.user_split, to "
    "measure generalisation to unseen users. Dialogues go through the pool in shuffled passes, "
    "so every user appears equally often (give or take one)"
)


def _int_at_least(low: int):
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    return parse


def _choice_model(text: str) -> ChoiceModel:
    try:
        return ChoiceModel.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


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
    parser.add_argument("--teacher", choices=TEACHERS, required=True)
    parser.add_argument("--domain", choices=DOMAIN_NAMES, default="flight")
    parser.add_argument("--dialogues", type=_int_at_least(1), required=True,
                        help="number of dialogues (>= 1)")
    parser.add_argument("--seed", type=_int_at_least(0), default=0)
    parser.add_argument("--out", required=True,
                        help="the JSONL file to write; or a directory (one that exists, or a "
                             "path ending in /), which gets the dialogues as train.jsonl and a "
                             "dataset card, README.md, that datasets.load_dataset(DIR) reads")
    parser.add_argument("--rounds", type=_int_at_least(1), default=5)
    parser.add_argument("--options-per-round", type=_int_at_least(2), default=3)
    parser.add_argument("--user-noise", type=_choice_model, default=ChoiceModel(),
                        metavar="deterministic|softmax:BETA|epsilon:EPS",
                        help="the simulated users' choice model (default: deterministic)")
    parser.add_argument("--users", choices=USER_POOLS, default="all", help=USERS_HELP)
    parser.add_argument("--heldout-seed", type=_int_at_least(0), default=None,
                        help="seed of the evaluation set whose held-out option sets the "
                        "dialogues avoid (default: --seed)")
    parser.add_argument("--heldout-sets", type=_int_at_least(0), default=DEFAULT_HELDOUT_SETS,
                        help="number of held-out sets in that evaluation set (default: "
                        f"{DEFAULT_HELDOUT_SETS})")
    parser.add_argument("--statements", action="store_true",
                        help="belief-state teaching (bayesian teacher only): each teacher turn "
                        "first states its belief about the user, each feature's posterior mean "
                        "weight in words ('So far: price: cheaper (strong); ...'), then "
                        "recommends (default: off, the paper's plain answers)")
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
    config = TeachingConfig(
        teacher=args.teacher,
        domain=get_domain(args.domain),
        n_dialogues=args.dialogues,
        seed=args.seed,
        n_rounds=args.rounds,
        n_options=args.options_per_round,
        choice_model=args.user_noise,
        users=args.users,
        heldout_seed=args.heldout_seed,
        n_heldout=args.heldout_sets,
        statements=args.statements,
    )
    if directory is not None:
        directory.mkdir(exist_ok=True)
    summary = write_dialogues(args.out if directory is None else directory / DATASET_FILE,
                              config)
    if directory is not None:
        write_dataset_card(directory, config, summary.n_redrawn)
    print(f"wrote {summary.n_dialogues} {args.teacher} dialogues to {summary.path} "
          f"({summary.n_redrawn} rounds redrawn to avoid held-out sets)", file=sys.stderr)
    return 0

"""The command line's one vocabulary: option types, the options several commands share, and
deprecated spellings that still work for one release.

Every command that draws users says ``--users N`` (a count) and ``--user-pool
{all,train,eval}``; held-out sets are ``--heldout N`` or ``--heldout-file PATH``; options per
set ``--options K``; rounds ``--rounds R``; seeds ``--seed S``; precision ``--dtype
{auto,fp32,bf16}`` (``train`` takes the same names from ``TrainConfig``). The types here make
a bad value one line naming the option and what was expected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..devices import DTYPE_ALIASES, DTYPES
from ..domains import DOMAIN_NAMES, get_domain
from ..evalfiles import load_eval_set
from ..evalset import EvalSet, make_eval_set
from ..reference import ChoiceModel
from ..users import USER_POOLS

DTYPE_HELP = "compute precision: auto (bf16 on a GPU, fp32 elsewhere), fp32 or bf16"
CHOICE_MODELS = "deterministic|softmax:BETA|epsilon:EPS"
USER_NOISE_HELP = "how the simulated users choose (default deterministic, as in the paper)"
USER_POOL_HELP = ("which reward functions users are drawn from: all (default, as the paper), "
                  "or the train or eval side of the fixed split of "
                  "bayesflight.sampling.user_split, to measure generalisation to unseen users")


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {low}"  # what argparse calls the type in its messages
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def choice_model(text: str) -> str:
    """An argparse type: a users' choice model, ``deterministic``, ``softmax:BETA`` or
    ``epsilon:EPS``, checked now and kept as written (results.json records the text;
    ``ChoiceModel`` of it is the model)."""
    try:
        ChoiceModel.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    return text


def user_model(text: str) -> ChoiceModel:
    """The choice model a checked ``choice_model`` text names."""
    return ChoiceModel.parse(text)


def warn_deprecated(old: str, new: str) -> None:
    """Say on stderr that ``old`` is a deprecated spelling of ``new``."""
    print(f"bayesflight: warning: {old} is deprecated and will be removed in the next release; "
          f"use {new}", file=sys.stderr)


def deprecated_alias(parser: argparse.ArgumentParser | Any, old: str, new: str, dest: str,
                     type: Callable[[str], Any] | None = None,
                     convert: Callable[[Any], tuple[str, Any]] | None = None) -> None:
    """Accept ``old`` (hidden from --help) as the deprecated spelling of ``new``: it warns,
    then stores its value in ``dest`` as ``new`` would. ``convert`` maps an old value to
    ``(dest, value)`` where the old option's values meant something else."""

    class Alias(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            warn_deprecated(old, new)
            target, value = convert(values) if convert else (dest, values)
            setattr(namespace, target, value)

    parser.add_argument(old, dest=f"_deprecated_{dest}", action=Alias, type=type,
                        help=argparse.SUPPRESS, default=argparse.SUPPRESS)


def canonical_dtype(text: str) -> str:
    """An argparse type: ``auto``, ``fp32`` or ``bf16``; the long spellings ``float32`` and
    ``bfloat16`` still work, with a deprecation warning."""
    if text in DTYPE_ALIASES:
        warn_deprecated(f"--dtype {text}", f"--dtype {DTYPE_ALIASES[text]}")
        return DTYPE_ALIASES[text]
    if text not in DTYPES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(DTYPES)}, got {text!r}")
    return text


def add_dtype_argument(parser: argparse.ArgumentParser | Any) -> None:
    """``--dtype {auto,fp32,bf16}``, as ``train`` has it."""
    parser.add_argument("--dtype", type=canonical_dtype, default="auto",
                        metavar="{" + ",".join(DTYPES) + "}", help=f"{DTYPE_HELP} (default auto)")


def add_device_argument(parser: argparse.ArgumentParser | Any) -> None:
    """``--device``, as ``train`` has it."""
    parser.add_argument("--device", default="auto",
                        help="auto (a GPU when there is one), cpu, cuda or cuda:N (default auto)")


def add_evalset_arguments(parser: argparse.ArgumentParser, files: bool = True,
                          users: int | None = None, heldout: int = 100) -> None:
    """The options that define a generated evaluation set, and (``files``) those that read
    one from the paper's files instead. ``users`` and ``heldout`` are the command's defaults
    (``users`` None: every user of the pool)."""
    group = parser.add_argument_group("evaluation set")
    group.add_argument("--domain", choices=DOMAIN_NAMES, default=None,
                       help="recommendation domain (default: flight, or the files' domain)")
    group.add_argument("--seed", type=non_negative_int, default=0,
                       help="seed of the users, rounds and held-out sets (default 0)")
    every = "every user of the pool, 624 for 4 features"
    group.add_argument("--users", type=positive_int, default=users,
                       help=f"a seeded sample of this many users (default {users or every})")
    group.add_argument("--user-pool", choices=USER_POOLS, default="all", help=USER_POOL_HELP)
    group.add_argument("--rounds", type=positive_int, default=5,
                       help="interaction rounds per user (default 5)")
    group.add_argument("--heldout", type=positive_int, default=heldout,
                       help=f"held-out option sets, the same for every user (default {heldout})")
    group.add_argument("--options", type=int_at_least(2), default=3,
                       help="options per set (default 3)")
    group.add_argument("--user-noise", type=choice_model, default="deterministic",
                       metavar=CHOICE_MODELS, help=USER_NOISE_HELP)
    if files:
        paper = parser.add_argument_group("the paper's files (instead of a generated set)")
        paper.add_argument("--interactions", default=None, metavar="PATH",
                           help="interaction JSONL file (default: a generated set)")
        paper.add_argument("--heldout-file", default=None, metavar="PATH",
                           help="held-out JSON file (default: a generated set)")


def evalset_from_args(args: argparse.Namespace) -> EvalSet:
    """The evaluation set the shared options describe: read from the paper's files when
    they are given, else generated."""
    interactions, heldout = getattr(args, "interactions", None), getattr(args, "heldout_file", None)
    if (interactions is None) != (heldout is None):
        raise ValueError("--interactions and --heldout-file go together")
    noise = user_model(args.user_noise)
    if interactions is not None:
        return load_eval_set(interactions, heldout,
                             get_domain(args.domain) if args.domain else None, noise)
    return make_eval_set(
        get_domain(args.domain or "flight"),
        seed=args.seed,
        n_users=args.users,
        n_rounds=args.rounds,
        n_heldout=args.heldout,
        options_per_round=args.options,
        user_model=noise,
        users=args.user_pool,
    )


def evalset_config(args: argparse.Namespace, evalset: EvalSet) -> dict[str, Any]:
    """What results.json records of the evaluation set a command ran on."""
    interactions = getattr(args, "interactions", None)
    return {
        "domain": evalset.domain.name,
        "seed": evalset.seed,
        "n_users": evalset.n_users,
        "user_pool": None if interactions else args.user_pool,
        "n_rounds": evalset.n_rounds,
        "n_heldout": evalset.n_heldout,
        "options_per_round": evalset.n_options,
        "user_noise": args.user_noise,
        "interactions": interactions,
        "heldout_file": getattr(args, "heldout_file", None),
    }

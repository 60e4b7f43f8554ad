"""``bayesflight simulate``: the paper's protocol for the Bayesian assistant and baselines."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import __version__
from ..assistants import ASSISTANT_NAMES, make_assistant
from ..metrics import summarise
from ..plotting import plot_accuracy
from ..protocol import run_assistant
from ..reference import ImpossibleObservationError
from ..results import format_table, write_results
from .options import (
    CHOICE_MODELS,
    add_evalset_arguments,
    choice_model,
    evalset_config,
    evalset_from_args,
    user_model,
)

DEFAULT_ASSISTANTS = ",".join(ASSISTANT_NAMES)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "simulate", help="run the Bayesian assistant and baselines through the paper's protocol",
        description="Run assistants through the paper's protocol on a generated evaluation set "
                    "(or on the paper's files); print the per-round table and write "
                    "OUT/results.json and OUT/accuracy.png.")
    parser.add_argument("--assistants", default=DEFAULT_ASSISTANTS,
                        help=f"comma-separated, from {DEFAULT_ASSISTANTS} (default: all)")
    parser.add_argument("--belief-model", type=choice_model, default=None,
                        metavar=CHOICE_MODELS,
                        help="the user model the Bayesian assistant assumes (default: the "
                             "--user-noise model)")
    add_evalset_arguments(parser)
    parser.add_argument("--out", default="runs/simulate",
                        help="output directory (default runs/simulate)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def _assistant_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ASSISTANT_NAMES]
    if not names or unknown:
        raise ValueError(f"--assistants must list names from {DEFAULT_ASSISTANTS}; got {text!r}")
    return list(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    names = _assistant_names(args.assistants)
    start = time.perf_counter()
    evalset = evalset_from_args(args)
    belief_model = user_model(args.belief_model) if args.belief_model else evalset.user_model
    domain = evalset.domain
    try:  # the Bayesian transcript is the yardstick of agreement and KL, so it always runs
        bayesian = run_assistant(make_assistant("bayesian", domain, choice_model=belief_model),
                                 evalset)
    except ImpossibleObservationError as err:
        raise ValueError(f"{err}: the users choose more noisily than the Bayesian assistant's "
                         f"--belief-model assumes") from err
    summaries = {}
    for name in names:
        transcript = bayesian if name == "bayesian" else run_assistant(
            make_assistant(name, domain, choice_model=belief_model, seed=args.seed), evalset,
            progress=not args.no_progress)
        summaries[name] = summarise(transcript, evalset, bayesian)
    config = {
        "command": "simulate",
        "version": __version__,
        **evalset_config(args, evalset),
        "belief_model": args.belief_model or args.user_noise,
        "assistants": names,
        "seconds": round(time.perf_counter() - start, 2),
    }
    print(f"{domain.name}: {evalset.n_users} users, {evalset.n_rounds} rounds, "
          f"{evalset.n_heldout} held-out sets of {evalset.n_options}, seed {evalset.seed}\n")
    print(format_table(summaries))
    path = write_results(args.out, config, summaries)
    plot = Path(args.out) / "accuracy.png"
    plot_accuracy(summaries, plot, f"{domain.name}: held-out accuracy by round "
                                   f"({evalset.n_users} users)")
    print(f"\nwrote {path} and {plot}", file=sys.stderr)
    return 0

"""``bayesflight evaluate``: a language model through the paper's protocol, beside the Bayesian
assistant, on the same users and held-out sets as ``bayesflight simulate`` with the same seed."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import __version__
from ..assistants import make_assistant
from ..evidence import FORMS as EVIDENCE_FORMS
from ..llm.embedded import DEFAULT_MODEL
from ..metrics import answer_shares, summarise
from ..plotting import plot_accuracy
from ..protocol import run_assistant
from ..results import (
    format_answer_shares,
    format_evidence_agreement,
    format_scores_agreement,
    format_statement_agreement,
    format_table,
    write_results,
)
from ..tracking import REPORT_TO, check_available, report_evaluation
from .options import (
    add_device_argument,
    add_dtype_argument,
    add_evalset_arguments,
    evalset_config,
    evalset_from_args,
    non_negative_int,
    positive_int,
)

# bayesflight.llm.assistant.MODES, without importing torch to build the parser (a test
# holds the two equal)
MODES = ("score", "generate", "belief", "given")
# The reference assistants evaluated beside every model: a model may not take their names.
RESERVED_NAMES = ("bayesian", "prior-majority", "statement")
# What must be equal for --resume to continue a saved transcript.
RUN_KEYS = ("model", "adapter", "mode", "dtype", "max_new_tokens", "domain", "seed", "users",
            "user_pool", "rounds", "heldout", "options", "user_noise", "interactions",
            "heldout_file", "scores", "evidence")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate", help="run a language model through the paper's protocol",
        description="Run a causal language model (the embedded SmolLM2-135M-Instruct, a local "
                    "directory, a PEFT adapter or a hub id) through the paper's protocol beside "
                    "the Bayesian assistant; print the per-round table and write "
                    "OUT/results.json and OUT/accuracy.png.")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default=DEFAULT_MODEL,
                       help=f"embedded name, local directory or hub id (default {DEFAULT_MODEL})")
    model.add_argument("--adapter", default=None,
                       help="a PEFT adapter directory on top (default: none)")
    model.add_argument("--name", default=None,
                       help="the model's name in results.json (default: the adapter's or "
                            "model's name, with '-llm' added where that is a reference "
                            f"assistant's name: {', '.join(RESERVED_NAMES)})")
    model.add_argument("--mode", choices=MODES, default="score",
                       help="score: next-token probabilities of the option numbers (default); "
                            "generate: greedy answer, parsed; belief: for a model taught with "
                            "belief statements (generate --statements): it writes its own "
                            "statement, then the option numbers are scored after it; given: for "
                            "such a model too: its answer starts with the exact statement the "
                            "Bayesian teacher would make from the user's choices so far, then "
                            "the option numbers are scored after it (acting on a correct belief; "
                            "beside belief mode, the cost of writing the statement)")
    model.add_argument("--scores", action="store_true",
                       help="with --mode belief or given, for a model taught with option "
                            "scores (generate --scores): it writes its scores of the options "
                            "after the statement, then the option numbers are scored after "
                            "them; prints how often the scores were those of the statement, "
                            "and the statement assistant (acting on the exact statement, the "
                            "rule such a model imitates) beside the Bayesian (default: off)")
    model.add_argument("--evidence", nargs="?", const="differences", choices=EVIDENCE_FORMS,
                       metavar="FORM",
                       help="with --mode belief or given, for a model taught with evidence "
                            "(generate --evidence [FORM], the same FORM): each of its turns "
                            "after the first opens with the evidence of the user's last "
                            "choice, its own in belief mode (prints how often it was exact), "
                            "the exact one before the given statement in given mode (default: "
                            "off)")
    add_device_argument(model)
    add_dtype_argument(model)
    model.add_argument("--batch-size", type=positive_int, default=16,
                       help="held-out questions per forward pass (default 16)")
    model.add_argument("--max-new-tokens", type=positive_int, default=32,
                       help="answer length in generate mode (default 32)")
    model.add_argument("--users-at-once", type=non_negative_int, default=0,
                       help="users that advance through the rounds together, their questions "
                            "batched (fast on a GPU); 1: one user at a time on a cached "
                            "conversation (fast on a CPU); the answers are the same. Default 0: "
                            "64 on a GPU, 1 elsewhere")
    add_evalset_arguments(parser, users=20, heldout=20)
    parser.add_argument("--out", default="runs/evaluate",
                        help="output directory (default runs/evaluate)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/<name>.transcript.npz, saved after each user")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--report-to", choices=REPORT_TO, default="none",
                        help="also send the curves (per-round scores of every assistant) to an "
                             "experiment tracker; tensorboard writes OUT/runs/evaluate-DOMAIN-"
                             "NAME (default none)")
    parser.set_defaults(run=run)


def _model_name(args: argparse.Namespace) -> str:
    """The model's name in results.json and its files: --name, else the adapter's or model's
    own name, which never takes a reference assistant's name (a folder called ``bayesian``
    is evaluated as ``bayesian-llm``)."""
    if args.name:
        return args.name
    source = args.adapter or args.model
    name = Path(source).name if Path(source).exists() else source
    return f"{name}-llm" if name in RESERVED_NAMES else name


def run(args: argparse.Namespace) -> int:
    name = _model_name(args)
    if args.scores and args.mode not in ("belief", "given"):
        raise ValueError(f"--scores needs --mode belief or given (the scores follow a belief "
                         f"statement), got --mode {args.mode}")
    if args.evidence is not None and args.mode not in ("belief", "given"):
        raise ValueError(f"--evidence needs --mode belief or given (the evidence opens a turn "
                         f"with a belief statement), got --mode {args.mode}")
    if name in RESERVED_NAMES:
        raise ValueError(f"--name must not be {name!r} (a reference assistant's name)")
    start = time.perf_counter()
    from ..llm.models import check_model_source

    check_model_source(args.model)  # a wrong name fails before seconds of importing torch
    check_available(args.report_to)
    evalset = evalset_from_args(args)
    from ..llm.evaluation import evaluate_llm

    # The references first: seconds, and a set the user model cannot explain (choices no
    # hypothesis allows) fails here instead of after the model's run.
    bayesian = run_assistant(make_assistant("bayesian", evalset.domain,
                                            choice_model=evalset.user_model),
                             evalset, progress=False)
    # The line a result must clear: the option most reward functions prefer, no updating.
    prior = run_assistant(make_assistant("prior-majority", evalset.domain), evalset,
                          progress=False)
    # With scores, also the rule the model imitates: acting on the Bayesian statement.
    stated = (run_assistant(make_assistant("statement", evalset.domain,
                                           choice_model=evalset.user_model),
                            evalset, progress=False) if args.scores else None)
    run_key = {key: getattr(args, key) for key in RUN_KEYS}
    llm = evaluate_llm(evalset, args.out, name, args.model, adapter=args.adapter,
                       run_key=run_key, resume=args.resume, mode=args.mode,
                       scores=args.scores, evidence=args.evidence, device=args.device,
                       dtype=args.dtype, batch_size=args.batch_size,
                       max_new_tokens=args.max_new_tokens, progress=not args.no_progress,
                       users_at_once=args.users_at_once)
    out = Path(args.out)
    summaries = {name: summarise(llm.transcript, evalset, bayesian),
                 "bayesian": summarise(bayesian, evalset, bayesian),
                 "prior-majority": summarise(prior, evalset, bayesian)}
    if stated is not None:
        summaries["statement"] = summarise(stated, evalset, bayesian)
    answers = {name: answer_shares(llm.transcript, evalset.n_options).tolist(),
               "bayesian": answer_shares(bayesian, evalset.n_options).tolist()}
    config = {
        "command": "evaluate",
        "version": __version__,
        "model": args.model,
        "adapter": args.adapter,
        "mode": args.mode,
        "scores": args.scores,
        "evidence": args.evidence,
        "device": llm.device,
        "dtype": llm.dtype,
        "batch_size": args.batch_size,
        "parse_failure_rate": llm.parse_failure_rate,
        "users_at_once": llm.users_at_once,
        "questions": llm.questions,
        "questions_per_s": round(llm.questions / max(llm.seconds, 1e-9), 2),
        "answers_by_option": answers[name],
        **({} if llm.statements_exact is None else {"statements_exact": llm.statements_exact}),
        **({} if llm.scores_exact is None else {"scores_exact": llm.scores_exact}),
        **({} if llm.evidence_exact is None else {"evidence_exact": llm.evidence_exact}),
        **({} if llm.evidence_exact_by_feature is None
           else {"evidence_exact_by_feature": llm.evidence_exact_by_feature}),
        **evalset_config(args, evalset),
        "assistants": list(summaries),
        "seconds": round(time.perf_counter() - start, 2),
    }
    print(f"{evalset.domain.name}: {evalset.n_users} users, {evalset.n_rounds} rounds, "
          f"{evalset.n_heldout} held-out sets of {evalset.n_options}, seed {evalset.seed}; "
          f"{name} ({args.mode} mode, {config['device']}, {config['dtype']})\n")
    print(format_table(summaries))
    print("\n" + format_answer_shares(answers))
    if args.mode in ("generate", "belief") or args.scores:  # where the model writes
        what = {"generate": "answers", "belief": "statements"}.get(args.mode, "scores")
        print(f"\nparse failures: {llm.n_parse_failures} of {llm.n_generated} "
              f"{what} ({llm.parse_failure_rate:.1%})")
    if llm.statements_exact is not None:
        print("\n" + format_statement_agreement(name, llm.statements_exact))
    if llm.scores_exact is not None:
        print("\n" + format_scores_agreement(name, llm.scores_exact))
    if llm.evidence_exact is not None:
        print("\n" + format_evidence_agreement(name, llm.evidence_exact,
                                                llm.evidence_exact_by_feature))
    print(f"{llm.questions} questions in {llm.seconds:.1f} s (the model loaded): "
          f"{llm.questions / max(llm.seconds, 1e-9):.1f} questions/s", file=sys.stderr)
    path = write_results(out, config, summaries)
    report_evaluation(args.report_to, out, f"evaluate-{evalset.domain.name}-{name}", summaries,
                      prefix=f"eval/{evalset.domain.name}", config=config)
    plot = out / "accuracy.png"
    plot_accuracy(summaries, plot, f"{evalset.domain.name}: held-out accuracy by round "
                                   f"({evalset.n_users} users, {evalset.n_heldout} sets)")
    print(f"\nwrote {path} and {plot} in {config['seconds']:.0f} s", file=sys.stderr)
    return 0


def interrupted(args: argparse.Namespace) -> str:
    """What an interrupted evaluation kept and how to go on (for the CLI's last line)."""
    transcript = Path(args.out) / f"{_model_name(args)}.transcript.npz"
    if transcript.is_file():
        return (f"the finished users are kept in {transcript}; rerun with --resume to "
                f"continue")
    return "no user was finished, so nothing was kept; rerun the command to start again"

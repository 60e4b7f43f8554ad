"""``bayesflight reproduce``: the paper's experiment with one command, cached and resumable."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from ..fileio import write_json
from ..llm.embedded import DEFAULT_MODEL
from ..reproduce import SCALES, Reproduction, Scale, write_docs
from ..scale_config import read_config, scale_from_config
from ..seeds import parse_seeds
from ..tracking import REPORT_TO
from ..variants import VARIANTS, Variant
from .options import add_device_argument, non_negative_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    scales = "; ".join(f"{s.name}: {s.description}" for s in SCALES.values())
    variants = "; ".join(f"{v.name} ({_describe(v)})" for v in VARIANTS.values())
    parser = sub.add_parser(
        "reproduce", help="teach, fine-tune and evaluate: the paper's experiment end to end",
        description="Generate Bayesian and oracle teaching data, fine-tune the embedded model on "
                    "each (and a soft-target Bayesian run), evaluate the original and taught "
                    "models beside the Bayesian assistant on flights and hotels, and write "
                    "OUT/results.json, OUT/report.md and OUT/figure.png. A rerun skips "
                    f"finished stages and continues killed ones. Scales: {scales}. Variants "
                    f"(a config's variants field): {variants}.")
    parser.add_argument("--scale", choices=sorted(SCALES), default="smoke",
                        help="how big a run (default smoke); --config changes its fields")
    parser.add_argument("--model", default=None, metavar="NAME_OR_DIR",
                        help="the model to teach: an embedded name, a hub id or a local "
                             f"directory (default: the scale's, {DEFAULT_MODEL})")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="a YAML or JSON file of scale fields (train_dialogues, train: "
                             "{lr: ..., full: true, ...}, eval_users, eval_heldout, variants, "
                             "domains, ...) applied over --scale; --model overrides its model "
                             "(default: none)")
    parser.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                        help="size the dialogues and steps so that the whole reproduction "
                             "finishes in MINUTES on this device, from a short throughput "
                             "probe; refused when too small to mean anything (default: the "
                             "scale's own sizes)")
    parser.add_argument("--out", default=None, help="output directory (default runs/SCALE)")
    parser.add_argument("--seed", type=non_negative_int, default=None,
                        help="seed of every stage (default 0); the same as --seeds SEED")
    parser.add_argument("--seeds", default=None, metavar="S1,S2,...",
                        help="repeat teaching and training once per seed (e.g. 0,1,2) and report "
                             "the mean over seeds with a t 95%% CI over seeds beside the CI over "
                             "users. Each seed draws its teaching data and drives its training "
                             "(data order, adapter initialisation), in OUT/seed-S; every seed is "
                             "evaluated on the first seed's evaluation set (users, held-out "
                             "sets), and the original model and the Bayesian assistant are "
                             "evaluated once, so the spread is that of teaching and training. "
                             "Not with --seed (default: --seed)")
    add_device_argument(parser)
    parser.add_argument("--docs", default=None,
                        help="also put the report and figure into this markdown file "
                             "(e.g. docs/results.md), between markers for the scale "
                             "(default: none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--force", action="store_true",
                        help="start a scale even when its estimated time on this device is "
                             "over 12 h (a gpu-sized run on a CPU is refused otherwise)")
    parser.add_argument("--report-to", choices=REPORT_TO, default="none",
                        help="send each training run's metrics to an experiment tracker "
                             "(tensorboard: event files in OUT/models/*/runs; default none)")
    parser.set_defaults(run=run)


def _describe(variant: Variant) -> str:
    """A variant in a few words for --help: its teaching, target, mode and order."""
    teaching = variant.teaching
    words = [f"{teaching.teacher} teacher" + (" stating its belief" if teaching.statements
                                              else ""),
             "on " + ", ".join(teaching.domains)
             + (" in turn" if variant.stage_key else " mixed" if len(teaching.domains) > 1
                else "")]
    if variant.target != "hard":
        words.append(f"{variant.target} target")
    if variant.mode != "score":
        words.append(f"{variant.mode} evaluation")
    return ", ".join(words)


def _sized(scale: Scale, args: argparse.Namespace, seeds: int) -> tuple[Scale, dict]:
    """The scale sized to --time-budget for ``seeds`` repeats: measured now, or as a previous
    run in --out sized it (so that a rerun continues the same reproduction)."""
    from ..budget import plan, probe

    if not args.time_budget > 0:
        raise ValueError(f"--time-budget must be a positive number of minutes, "
                         f"got {args.time_budget:g}")
    key = {"base": json.loads(json.dumps(dataclasses.asdict(scale))),
           "minutes": args.time_budget, "device": args.device,
           **({"seeds": seeds} if seeds > 1 else {})}
    saved = Path(args.out or f"runs/{scale.name}-{args.time_budget:g}min") / "sizing.json"
    if saved.is_file():
        previous = json.loads(saved.read_text(encoding="utf-8"))
        if previous["key"] == key:
            return Scale(**{**previous["scale"], "domains": tuple(previous["scale"]["domains"]),
                            "variants": tuple(previous["scale"]["variants"])}), previous["sizing"]
    print(f"reproduce: probing {scale.model} on this device to size a "
          f"{args.time_budget:g}-minute run", file=sys.stderr, flush=True)
    sized, sizing = plan(scale, args.time_budget, probe(scale, args.device), seeds=seeds)
    saved.parent.mkdir(parents=True, exist_ok=True)
    write_json(saved, {"key": key, "scale": dataclasses.asdict(sized), "sizing": sizing})
    return sized, sizing


def _seeds(args: argparse.Namespace) -> tuple[int, ...]:
    """The seeds of --seed or --seeds (default 0); giving both is refused."""
    if args.seed is not None and args.seeds is not None:
        raise ValueError("give --seed or --seeds, not both (--seed S is --seeds S)")
    if args.seeds is not None:
        return parse_seeds(args.seeds)
    return (0 if args.seed is None else args.seed,)


def run(args: argparse.Namespace) -> int:
    seeds = _seeds(args)
    scale = SCALES[args.scale]
    if args.config:
        scale = scale_from_config(scale, read_config(args.config), f"--config {args.config}")
    if args.model:
        scale = dataclasses.replace(scale, model=args.model)
    sizing = None
    if args.time_budget is None:  # a budget sizes the run itself; else refuse the absurd
        from ..devices import resolve_device
        from ..estimate import check_feasible

        kind = "cuda" if resolve_device(args.device).startswith("cuda") else "cpu"
        print(f"reproduce --scale {scale.name}: "
              f"{check_feasible(scale, kind, force=args.force, seeds=len(seeds)).describe()}",
              file=sys.stderr, flush=True)
    start = time.perf_counter()
    if args.time_budget is not None:
        scale, sizing = _sized(scale, args, len(seeds))
    out = Path(args.out or f"runs/{scale.name}")
    reproduction = Reproduction(scale, out, seeds=seeds, device=args.device,
                                progress=not args.no_progress, sizing=sizing,
                                report_to=args.report_to,
                                log=lambda m: print(m, file=sys.stderr, flush=True))
    reproduction.run()
    print((out / "report.md").read_text(encoding="utf-8"))
    if args.docs:
        write_docs(out, Path(args.docs), scale)
    print(f"reproduce --scale {scale.name}: done in {time.perf_counter() - start:.0f} s",
          file=sys.stderr)
    return 0


def interrupted(args: argparse.Namespace) -> str:
    """What an interrupted reproduction kept and how to go on (for the CLI's last line)."""
    out = args.out or (f"runs/{args.scale}" if args.time_budget is None
                       else "its folder in runs/")
    return (f"finished stages, training checkpoints and evaluated users are kept in {out}; "
            f"rerun the same command to continue")

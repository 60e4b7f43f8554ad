"""``bayesflight export-checkpoint``: a training run's checkpoint as a model directory, so that
a run stopped by hand, killed or still going can be evaluated at the step it reached."""

from __future__ import annotations

import argparse
import json
import sys

from .options import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export-checkpoint", help="write a training run's checkpoint as a model directory",
        description="Write the checkpoint of a training run (train --out RUN; its latest, or "
                    "--step N) into a new directory as the run would have written it had it "
                    "ended there: the whole model (--full) or the LoRA adapter, the tokenizer, "
                    "train_config.json, the metrics of its steps and a model card naming the "
                    "checkpoint, for evaluate --model DIR (full) or --adapter DIR (LoRA). The "
                    "run's data file must be where the run read it, unchanged; the run itself "
                    "is left as it is and can still be resumed.")
    parser.add_argument("--run", required=True, dest="run_dir", metavar="RUN",
                        help="the training run's directory")
    parser.add_argument("--out", required=True, help="new directory for the model")
    parser.add_argument("--step", type=positive_int, default=None,
                        help="the checkpoint's step (default: the run's latest checkpoint)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..train.export import export_checkpoint

    out = export_checkpoint(args.run_dir, args.out, args.step)
    step = json.loads((out / "train_summary.json").read_text(encoding="utf-8"))["steps"]
    print(f"export-checkpoint: wrote {out}, the checkpoint of step {step} of {args.run_dir}",
          file=sys.stderr)
    return 0

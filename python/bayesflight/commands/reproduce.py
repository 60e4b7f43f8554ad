"""``bayesflight reproduce``: the paper's experiment with one command, cached and resumable."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..reproduce import SCALES, Reproduction, write_docs


def add_parser(sub: argparse._SubParsersAction) -> None:
    scales = "; ".join(f"{s.name}: {s.description}" for s in SCALES.values())
    parser = sub.add_parser(
        "reproduce", help="teach, fine-tune and evaluate: the paper's experiment end to end",
        description="Generate Bayesian and oracle teaching data, fine-tune the embedded model on "
                    "each (and a soft-target Bayesian run), evaluate the original and taught "
                    "models beside the Bayesian assistant on flights and hotels, and write "
                    "OUT/results.json, OUT/report.md and OUT/figure.png. A rerun skips "
                    f"finished stages and continues killed ones. Scales: {scales}.")
    parser.add_argument("--scale", choices=sorted(SCALES), default="smoke",
                        help="how big a run (default smoke)")
    parser.add_argument("--out", default=None, help="output directory (default runs/SCALE)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every stage (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--docs", default=None,
                        help="also put the report and figure into this markdown file "
                             "(e.g. docs/results.md), between markers for the scale")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    scale = SCALES[args.scale]
    out = Path(args.out or f"runs/{scale.name}")
    start = time.perf_counter()
    reproduction = Reproduction(scale, out, seed=args.seed, device=args.device,
                                progress=not args.no_progress,
                                log=lambda m: print(m, file=sys.stderr, flush=True))
    reproduction.run()
    print((out / "report.md").read_text(encoding="utf-8"))
    if args.docs:
        write_docs(out, Path(args.docs), scale)
    print(f"reproduce --scale {scale.name}: done in {time.perf_counter() - start:.0f} s",
          file=sys.stderr)
    return 0

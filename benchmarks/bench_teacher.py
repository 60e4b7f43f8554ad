"""Throughput of teaching-data generation, end to end (not a timed test).

Run: ``python benchmarks/bench_teacher.py [--dialogues 100000] [--teacher bayesian]``.
Prints dialogues per second for the whole run (sampling, the batched core call, rendering,
writing JSONL) and the time of each stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

from bayesflight.domains import DOMAIN_NAMES, get_domain
from bayesflight.reference import ChoiceModel
from bayesflight.teacher import TEACHERS, TeachingConfig, generate
from bayesflight.teacher_jsonl import render, write_dialogues


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=100_000)
    parser.add_argument("--teacher", choices=TEACHERS, default="bayesian")
    parser.add_argument("--domain", choices=DOMAIN_NAMES, default="flight")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--user-noise", type=ChoiceModel.parse, default=ChoiceModel(),
                        help="deterministic (default), softmax:BETA or epsilon:EPS")
    args = parser.parse_args()
    config = TeachingConfig(args.teacher, get_domain(args.domain), args.dialogues, args.seed,
                            choice_model=args.user_noise)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "dialogues.jsonl")
        write_dialogues(path, dataclasses.replace(config, n_dialogues=100))  # warm-up
        start = time.perf_counter()
        summary = write_dialogues(path, config)
        total = time.perf_counter() - start
        size = os.path.getsize(path)
    teach_s = render_s = 0.0
    t0 = time.perf_counter()
    for chunk in generate(config):
        t1 = time.perf_counter()
        render(chunk, config)
        t2 = time.perf_counter()
        teach_s += t1 - t0
        render_s += t2 - t1
        t0 = time.perf_counter()
    print(f"{summary.n_dialogues} {args.teacher} {args.domain} dialogues "
          f"({config.choice_model.kind} users), {size / 1e6:.0f} MB, "
          f"{summary.n_redrawn} rounds redrawn")
    print(f"end to end: {total:.2f} s = {summary.n_dialogues / total:,.0f} dialogues/s "
          f"on {os.cpu_count()} cores")
    print(f"stages (second pass): sample + teach {teach_s:.2f} s, render {render_s:.2f} s, "
          f"write {max(total - teach_s - render_s, 0.0):.2f} s (end to end minus both)")


if __name__ == "__main__":
    main()

"""Evaluation questions per second: one user at a time against every user together, in one run.

The baseline is ``bayesflight evaluate --users-at-once 1`` (each user's conversation cached,
its held-out questions batched on top of it); the contender ``--users-at-once N`` (round r of
N users in one batch, every distinct prompt once, longest first). Both run the same
evaluation set through ``evaluate_llm``, which times the protocol without the model load, and
the script prints both rates, their ratio and how often the two paths recommend the same
option (fp32 on a CPU: always; bf16 on a GPU: a few ties break differently).

    python benchmarks/bench_eval_together.py                          # CPU: a small set
    python benchmarks/bench_eval_together.py --device cuda --users 48 --heldout 30 \\
        --batch-size 32 --together-batch-size 256 --users-at-once 64  # the GPU comparison
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from bayesflight.domains import get_domain
from bayesflight.evalset import make_eval_set
from bayesflight.llm.embedded import DEFAULT_MODEL
from bayesflight.llm.evaluation import LLMRun, evaluate_llm
from machine import cpu_name


def _run(args: argparse.Namespace, evalset, users_at_once: int, batch_size: int) -> LLMRun:
    with tempfile.TemporaryDirectory() as out:
        return evaluate_llm(evalset, out, "bench", args.model, device=args.device,
                            dtype=args.dtype, batch_size=batch_size, progress=False,
                            users_at_once=users_at_once, mode=args.mode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--domain", default="flight")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--mode", default="score", choices=("score", "belief"))
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--heldout", type=int, default=6, help="held-out sets per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16,
                        help="questions per forward pass, one user at a time")
    parser.add_argument("--together-batch-size", type=int, default=64,
                        help="prompts per forward pass, users together")
    parser.add_argument("--users-at-once", type=int, default=0,
                        help="users that advance together (default: all of them)")
    args = parser.parse_args()

    evalset = make_eval_set(get_domain(args.domain), seed=args.seed, n_users=args.users,
                            n_rounds=args.rounds, n_heldout=args.heldout, users="eval")
    together = args.users_at_once or args.users
    start = time.perf_counter()
    one = _run(args, evalset, 1, args.batch_size)
    many = _run(args, evalset, together, args.together_batch_size)
    same = np.mean(one.transcript.heldout_recommendations
                   == many.transcript.heldout_recommendations)
    rate_one, rate_many = (r.questions / max(r.seconds, 1e-9) for r in (one, many))
    print(f"{args.model} on {one.device} ({one.dtype}; {cpu_name()}), {args.mode} mode: "
          f"{args.users} users x {args.rounds} rounds x {args.heldout} held-out sets, "
          f"{one.questions} questions")
    print(f"  one user at a time (batch {args.batch_size}):        {one.seconds:7.2f} s  "
          f"{rate_one:8.1f} questions/s")
    print(f"  {together} users together (batch {args.together_batch_size}): {many.seconds:7.2f} s"
          f"  {rate_many:8.1f} questions/s")
    print(f"  ratio {rate_many / rate_one:.2f}x; the same recommendation on {same:.1%} of "
          f"held-out questions; {time.perf_counter() - start:.0f} s in all with the loads")


if __name__ == "__main__":
    main()

"""Held-out predictions per second of an LLM assistant, three ways, in one run.

1. cached: the conversation's KV cache is encoded once per round and the held-out questions
   are scored in batches on top of it (what ``bayesflight evaluate`` does);
2. naive: a fresh forward pass over the whole prompt for every held-out question;
3. generate: greedy generation of the answer and parsing it (the paper's setup), batched on
   the same cache.

All three see the same conversation (one user's rounds, the cached assistant's
recommendations) and are timed on every round's held-out questions, so the mix of short and
long conversations is the protocol's. The naive way is slow, so it scores only the first
``--naive-sets`` questions of each round; rates are per question.

    python benchmarks/bench_llm_eval.py                      # SmolLM2-135M, CPU, float32
    python benchmarks/bench_llm_eval.py --device cuda --dtype bf16
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bayesflight.domains import get_domain
from bayesflight.evalset import make_eval_set
from bayesflight.llm import DEFAULT_MODEL, load_model
from bayesflight.llm.assistant import LLMAssistant
from machine import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--domain", default="flight")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--heldout", type=int, default=20, help="held-out sets per round")
    parser.add_argument("--naive-sets", type=int, default=3,
                        help="held-out sets per round for the naive way (it is slow)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    model, tokenizer = load_model(args.model, device=args.device, dtype=args.dtype)
    evalset = make_eval_set(get_domain(args.domain), seed=args.seed, n_users=1,
                            n_rounds=args.rounds, n_heldout=args.heldout)
    ways = {
        "cached": LLMAssistant(model, tokenizer, evalset.domain, batch_size=args.batch_size),
        "naive": LLMAssistant(model, tokenizer, evalset.domain, use_cache=False),
        "generate": LLMAssistant(model, tokenizer, evalset.domain, mode="generate",
                                 batch_size=args.batch_size,
                                 max_new_tokens=args.max_new_tokens),
    }
    sets = {"cached": evalset.heldout, "naive": evalset.heldout[:args.naive_sets],
            "generate": evalset.heldout}
    ways["naive"].predict(evalset.heldout[:1])  # warm-up: page the weights in
    seconds = dict.fromkeys(ways, 0.0)
    counts = dict.fromkeys(ways, 0)
    tokens = []
    worst = 0.0
    for r in range(args.rounds + 1):
        probs = {}
        for name, assistant in ways.items():
            start = time.perf_counter()
            probs[name] = assistant.predict(sets[name])
            seconds[name] += time.perf_counter() - start
            counts[name] += len(sets[name])
        worst = max(worst, float(np.abs(probs["cached"][:args.naive_sets]
                                        - probs["naive"]).max()))
        tokens.append(len(tokenizer(ways["cached"].prompt_texts(evalset.heldout[:1])[0],
                                    add_special_tokens=False)["input_ids"]))
        if r == args.rounds:
            break
        options = evalset.rounds[0, r]
        rec = int(np.argmax(ways["cached"].predict(options)))
        for assistant in ways.values():
            assistant.observe(options, rec, int(evalset.choices[0, r]))

    device = next(model.parameters()).device
    where = cpu_name() if device.type == "cpu" else torch.cuda.get_device_name(device)
    print(f"{args.model} on {device} ({where}), {next(model.parameters()).dtype}, "
          f"{torch.get_num_threads()} threads; {args.rounds + 1} rounds x {args.heldout} "
          f"held-out sets (naive: {args.naive_sets} per round); prompt tokens by round: "
          f"{tokens}")
    rate = {name: counts[name] / seconds[name] for name in ways}
    print(f"{'way':<9} {'questions':>9} {'seconds':>8} {'per second':>10} {'vs naive':>9}")
    for name in ways:
        print(f"{name:<9} {counts[name]:>9} {seconds[name]:>8.1f} {rate[name]:>10.2f} "
              f"{rate[name] / rate['naive']:>8.1f}x")
    print(f"cached vs naive: {rate['cached'] / rate['naive']:.1f}x faster, "
          f"{rate['cached'] / rate['generate']:.1f}x generate-and-parse; largest difference "
          f"between cached and naive probabilities {worst:.1e}; generate parse failures "
          f"{ways['generate'].parse_failure_rate:.0%}")


if __name__ == "__main__":
    main()

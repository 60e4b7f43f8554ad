"""``bayesflight init-model``: a small llama with random weights and a tokenizer of the domains'
values, to teach from scratch (``train --full --model DIR``) instead of fine-tuning an LLM."""

from __future__ import annotations

import argparse

from .options import non_negative_int, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "init-model", help="write a small randomly initialised model to teach from scratch",
        description="Write a llama with random weights and a byte-level BPE tokenizer in which "
                    "every feature value of every domain is one token, into a new directory "
                    "that --model DIR loads in train, evaluate, probe and reproduce. Teaching "
                    "it (train --full) asks whether a transformer learns to update from "
                    "Bayesian teaching with no pretraining, fast enough to try on a CPU.")
    parser.add_argument("--out", required=True, help="new directory for the model")
    parser.add_argument("--hidden-size", type=positive_int, default=128,
                        help="width of the residual stream (default 128)")
    parser.add_argument("--layers", type=positive_int, default=4,
                        help="decoder layers (default 4)")
    parser.add_argument("--heads", type=positive_int, default=4,
                        help="attention heads; --hidden-size must be a multiple of twice "
                             "this (default 4)")
    parser.add_argument("--vocab-size", type=positive_int, default=1024,
                        help="most tokens the BPE may learn; it stops earlier when the "
                             "dialogues' words are all merged (default 1024)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the weights and of the tokenizer's corpus (default 0)")
    parser.add_argument("--ordered-values", action="store_true",
                        help="start each feature value's embedding at its rank along one "
                             "direction per feature (what pretraining gives: $190 below "
                             "$280), instead of random like every other token")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..llm.scratch import ScratchConfig, init_model

    config = ScratchConfig(hidden_size=args.hidden_size, layers=args.layers, heads=args.heads,
                           vocab_size=args.vocab_size, seed=args.seed,
                           ordered_values=args.ordered_values)
    config.check()
    counts = init_model(args.out, config)
    print(f"init-model: wrote {args.out}: {counts['parameters']:,} parameters "
          f"({args.layers} layers x {args.hidden_size}, {args.heads} heads), "
          f"{counts['vocabulary']} tokens")
    return 0

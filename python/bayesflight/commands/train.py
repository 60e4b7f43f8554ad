"""``bayesflight train``: fine-tune a causal LM on teaching dialogues (LoRA or full)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..train.config import LOSS_TOKENS, PRESETS, TARGETS, parse_lora

# argparse destination -> TrainConfig field, for the flags that map one to one.
_FIELDS = ("data", "out", "model", "epochs", "max_steps", "lr", "batch_size", "grad_accum",
           "global_batch", "max_len", "warmup_ratio", "weight_decay", "max_grad_norm", "seed",
           "target", "soft_weight", "loss_tokens", "checkpoint_every", "device", "dtype",
           "lora_layers")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a language model on teaching dialogues (LoRA or full fine-tuning)",
        description=(
            "Supervised fine-tuning on a JSONL file of dialogues (bayesflight generate). The "
            "loss is taken on the assistant's turns only, located with the model's own chat "
            "template. --target soft distils the teacher's option distribution (option_probs) "
            "at each answer instead of, or mixed with, the text. Dialogues longer than "
            "--max-len keep their opening rounds (trailing rounds are dropped and counted). "
            "Runs as one process or under torchrun or accelerate launch (one process per "
            "GPU, or gloo on CPUs): DDP, or FSDP with --full --fsdp. "
            "The output directory holds the adapter or model with its tokenizer, loadable by "
            "bayesflight evaluate --adapter DIR (LoRA) or --model DIR (full), plus "
            "train_config.json, metrics.jsonl and train_summary.json."
        ),
    )
    parser.add_argument("--data", required=True, help="JSONL file of dialogues")
    parser.add_argument("--out", required=True, help="output directory (new, or --resume)")
    parser.add_argument("--model", default=None,
                        help="base model: embedded name, local directory or hub id "
                             "(default smollm2-135m)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--lora", default=None, metavar="SPEC",
                      help="LoRA settings r=INT,alpha=FLOAT,dropout=FLOAT (default "
                           "r=16,alpha=32,dropout=0.05), on all linear layers")
    kind.add_argument("--full", action="store_true", default=None,
                      help="full fine-tuning instead of LoRA")
    parser.add_argument("--lora-layers", type=int, default=None, metavar="N",
                        help="put LoRA on the top N decoder layers only")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="start from a named recipe; explicit flags override it "
                             "(paper-full: full fine-tuning, lr 2e-6, global batch 128, "
                             "1 epoch, max length 2048, warm-up 0.1, cosine)")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the data (1)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="optimizer steps; overrides --epochs")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate (2e-4 for LoRA, 2e-5 for --full)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="dialogues per forward pass on each process (4)")
    parser.add_argument("--grad-accum", type=int, default=None,
                        help="forward passes per optimizer step on each process (1)")
    parser.add_argument("--global-batch", type=int, default=None,
                        help="dialogues per optimizer step over all processes; sets "
                             "--grad-accum")
    parser.add_argument("--max-len", type=int, default=None, help="tokens per dialogue (2048)")
    parser.add_argument("--warmup-ratio", type=float, default=None,
                        help="fraction of steps of linear warm-up before the cosine decay (0.1)")
    parser.add_argument("--weight-decay", type=float, default=None, help="AdamW decay (0)")
    parser.add_argument("--max-grad-norm", type=float, default=None,
                        help="gradient clipping norm, 0 for none (1.0)")
    parser.add_argument("--seed", type=int, default=None, help="seed of data order and init (0)")
    parser.add_argument("--target", choices=TARGETS, default=None,
                        help="hard: cross-entropy on the teacher's text (the paper); soft: KL "
                             "from the teacher's option distribution to the model's (hard)")
    parser.add_argument("--soft-weight", type=float, default=None,
                        help="with --target soft: weight of the KL term; 1 - weight goes to "
                             "the hard cross-entropy (1.0)")
    parser.add_argument("--loss-tokens", choices=LOSS_TOKENS, default=None,
                        help="assistant: every assistant token (the paper); digit: only the "
                             "option number, the one token that carries information "
                             "(assistant)")
    parser.add_argument("--fsdp", action="store_true", default=None,
                        help="with --full under torchrun: shard weights, gradients and "
                             "optimizer state over the processes (FSDP, one unit per decoder "
                             "layer) instead of a whole copy on each (DDP); for models too "
                             "large to fine-tune whole on one device")
    parser.add_argument("--gradient-checkpointing", action="store_true", default=None,
                        help="recompute activations in the backward pass to save memory")
    parser.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                        help="optimizer steps between checkpoints, 0 for none (50)")
    parser.add_argument("--resume", action="store_true", default=None,
                        help="continue the run in --out from its last checkpoint")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (auto)")
    parser.add_argument("--dtype", choices=("auto", "fp32", "bf16"), default=None,
                        help="compute precision: fp32, or bf16 autocast over fp32 weights "
                             "(auto: bf16 on a GPU, fp32 on a CPU)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="no progress bar")
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> Any:
    """The TrainConfig of the parsed flags: the preset, then every flag given explicitly."""
    from ..train.config import with_preset

    given = {name: getattr(args, name) for name in _FIELDS if getattr(args, name) is not None}
    for name in ("full", "fsdp", "gradient_checkpointing", "resume", "progress"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.lora is not None:
        given |= parse_lora(args.lora)
        given["full"] = False
    return with_preset(args.preset, **given)


def run(args: argparse.Namespace) -> int:
    from ..llm.models import check_model_source

    config = config_from_args(args)
    check_model_source(config.model)  # a wrong name fails before seconds of importing torch
    from ..train import train

    out = train(config)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one process reports
        print(out)
    return 0


def interrupted(args: argparse.Namespace) -> str:
    """What an interrupted run kept in --out and how to go on (for the CLI's last line)."""
    from ..train.checkpoint import checkpoints
    from ..train.loop import CONFIG_FILE, SUMMARY_FILE

    out = Path(args.out)
    found = checkpoints(out)
    if (out / SUMMARY_FILE).is_file():
        return f"the finished run in {out} is kept"
    if found:
        step = int(found[-1].name.removeprefix("step-"))
        return (f"kept the checkpoint of step {step} in {out}; rerun with --resume to "
                f"continue from it")
    if (out / CONFIG_FILE).is_file():
        return f"{out} holds the run without a checkpoint; rerun with --resume to start it over"
    return (f"no checkpoint was reached, so nothing was kept in {out}; rerun the same "
            f"command to start again")

"""``bayesflight train``: fine-tune a causal LM on teaching dialogues (LoRA or full).

The flags are the fields of ``TrainConfig``, turned into a parser by transformers'
``HfArgumentParser`` (so ``--batch-size`` and ``--batch_size`` are the same flag, booleans take
``--full`` or ``--full false``). Values come, in increasing precedence, from the dataclass
defaults, ``--preset``, ``--config FILE`` (YAML or JSON with the same field names, such as
the ``train_config.json`` of a finished run) and the flags given on the command line. The
parser is built only when ``train`` runs: importing transformers takes seconds, which the
other commands need not pay.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "Supervised fine-tuning on a JSONL file of dialogues (bayesflight generate). The loss is "
    "taken on the assistant's turns only, located with the model's own chat template. "
    "--target soft distils the teacher's option distribution (option_probs) at each answer "
    "instead of, or mixed with, the text. Dialogues longer than --max-len keep their opening "
    "rounds (trailing rounds are dropped and counted). Runs as one process or under torchrun "
    "or accelerate launch (one process per GPU, or gloo on CPUs): DDP, or FSDP with --full "
    "--fsdp. The output directory holds the adapter or model with its tokenizer and a model "
    "card (README.md), loadable by bayesflight evaluate --adapter DIR (LoRA) or --model DIR "
    "(full) and by transformers / peft, plus train_config.json (a valid --config), "
    "metrics.jsonl, train_summary.json and, where the chat template allows, "
    "chat_template_training.jinja (the template with {% generation %} markers under which "
    "TRL's SFTTrainer(assistant_only_loss=True) labels the same tokens)."
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    # The real parser is built from TrainConfig in run(); this one only names the command and
    # lets every argument through (cli.main hands them over as args.argv).
    parser = subparsers.add_parser(
        "train", add_help=False, description=DESCRIPTION,
        help="fine-tune a language model on teaching dialogues (LoRA or full fine-tuning)")
    parser.set_defaults(run=run, takes_argv=True)


def build_parser() -> Any:
    """The ``bayesflight train`` parser: one flag per TrainConfig field, plus --config,
    --preset and --lora."""
    from transformers import HfArgumentParser

    from ..train.config import PRESETS, TrainConfig

    parser = HfArgumentParser(TrainConfig, prog="bayesflight train", description=DESCRIPTION)
    for action in parser._actions:
        action.required = False  # --data and --out may come from --config; checked after
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="a YAML (.yaml, .yml) or JSON file of TrainConfig fields, such as "
                             "the train_config.json of a finished run; flags given here "
                             "override it")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="start from a named recipe; --config and explicit flags override "
                             "it (paper-full: full fine-tuning, lr 2e-6, global batch 128, "
                             "1 epoch, max length 2048, warm-up 0.1, cosine)")
    parser.add_argument("--lora", default=None, metavar="SPEC",
                        help="LoRA settings in one flag, r=INT,alpha=FLOAT,dropout=FLOAT (any "
                             "subset); implies LoRA, so it excludes --full")
    return parser


def config_from_argv(argv: list[str]) -> Any:
    """The TrainConfig of ``bayesflight train`` arguments: the dataclass defaults, then the
    preset, then the --config file, then every flag given explicitly."""
    from ..scale_config import read_config
    from ..train.config import PRESETS, TrainConfig, parse_lora

    parser = build_parser()
    parser.parse_args(argv)  # --help, unknown flags, bad types and choices, defaults shown
    for action in parser._actions:  # parse again to learn which flags were given
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    config_file, preset, lora = (given.pop(k, None) for k in ("config", "preset", "lora"))
    values: dict[str, Any] = dict(PRESETS[preset]) if preset else {}
    if config_file:
        values |= _file_values(parser, config_file, read_config(config_file))
    if lora is not None:
        if given.get("full"):
            parser.error("--lora asks for LoRA; it cannot be combined with --full")
        given |= parse_lora(lora) | {"full": False}
    values |= given
    missing = [f"--{name}" for name in ("data", "out") if values.get(name) is None]
    if missing:
        parser.error(f"{' and '.join(missing)} must be given, on the command line or in "
                     f"--config")
    return TrainConfig.from_dict(values)


def _file_values(parser: Any, path: str, values: dict[str, Any]) -> dict[str, Any]:
    """The fields of a --config file, its strings read as the flags read them (YAML reads
    ``2e-4`` as a string, the flag as a float); unknown names raise ValueError."""
    from ..train.config import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"--config {path}: unknown TrainConfig fields: {', '.join(unknown)}")
    types = {a.dest: a.type for a in parser._actions if a.dest in known and a.type}
    out = {}
    for name, value in values.items():
        if isinstance(value, str) and name in types:
            try:
                value = types[name](value)
            except (ValueError, argparse.ArgumentTypeError) as err:
                raise ValueError(f"--config {path}: {name}: {err}") from None
        out[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    from ..llm.models import check_model_source

    config = config_from_argv(list(args.argv))
    args.out = config.out  # for interrupted()
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

    if getattr(args, "out", None) is None:
        return "interrupted before the run started; nothing was written"
    out = Path(args.out)
    found = checkpoints(out)
    if (out / SUMMARY_FILE).is_file():
        return f"the finished run in {out} is kept"
    if found:
        step = int(found[-1].name.removeprefix("step-"))
        return (f"kept the checkpoint of step {step} in {out}; rerun with --resume to "
                f"continue from it, or evaluate it after bayesflight export-checkpoint --run "
                f"{out} --out DIR")
    if (out / CONFIG_FILE).is_file():
        return f"{out} holds the run without a checkpoint; rerun with --resume to start it over"
    return (f"no checkpoint was reached, so nothing was kept in {out}; rerun the same "
            f"command to start again")

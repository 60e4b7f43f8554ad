"""Cards that make bayesflight's outputs shareable: a model card (``README.md``) beside every
trained adapter or model, and a dataset card beside teaching dialogues written to a directory.

Both are huggingface_hub cards: YAML metadata that the hub, ``datasets`` and ``peft`` read
(base model, library, the data files and their split), then what a reader needs to know: what
was taught and how, the data's schema, the recipe, the results known when the card was
written, and how to load the thing.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from . import __version__

CARD_FILE = "README.md"
DATASET_FILE = "train.jsonl"  # the dialogues' name in a dataset directory: the train split

SCHEMA = (
    ("idx", "int", "the dialogue's position in the file"),
    ("messages", "list of {role, content}",
     "the conversation in the paper's chat format: each user turn shows the round's options "
     "(and, from the second round, the user's choice in the previous one), each assistant "
     "turn is the teacher's recommendation (\"The best option is Flight 2.\")"),
    ("option_probs", "list of lists of float",
     "one list per assistant turn: the teacher's probability of each option (the Bayesian "
     "posterior predictive, or one-hot for the oracle)"),
    ("teacher", "string", "bayesian or oracle"),
    ("domain", "string", "flight or hotel"),
    ("user_id", "int", "the simulated user: its index in the grid of reward functions"),
    ("reward_fn", "list of float", "the user's weight on each feature"),
    ("choices", "list of int", "the option the user chose in each round (0-based)"),
)

TEACHER_TEXT = {
    "bayesian": "the exact Bayesian assistant: a posterior over every reward function of the "
                "grid, updated on each of the user's choices, recommending the option of highest "
                "posterior predictive probability",
    "oracle": "an oracle that knows the user's reward function and recommends the option the "
              "user then chooses",
}

_SCHEDULE_WORDS = {  # TrainConfig.lr_schedule in the card's recipe sentence
    "cosine": "cosine decay",
    "constant": "the same rate to the end",
}


def check_hub() -> None:
    """Raise ValueError, before any work, if huggingface_hub (which writes the cards) is
    missing: the core install (``pip install bayesflight``) does not have it."""
    import importlib.util

    if importlib.util.find_spec("huggingface_hub") is None:
        raise ValueError('a dataset card needs huggingface_hub: pip install "bayesflight[llm]" '
                         "or pip install huggingface-hub")


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _card(metadata: Any, body: str, kind: str) -> Any:
    from huggingface_hub import DatasetCard, ModelCard

    card_class = DatasetCard if kind == "dataset" else ModelCard
    return card_class(f"---\n{metadata.to_yaml()}\n---\n\n{body.strip()}\n")


# --- teaching data ---------------------------------------------------------------------------

def generate_command(config: Any, out: str, heldout_file: str | None = None) -> str:
    """The ``bayesflight generate`` command line that writes the same bytes as ``config``.

    ``heldout_file`` names the file ``config.heldout`` was read from; it is required when
    ``config.heldout`` is given, as the sets themselves do not fit on a command line.
    """
    cm = config.choice_model
    noise = (f"{cm.kind}:{cm.beta!r}" if cm.kind == "softmax" else
             f"{cm.kind}:{cm.epsilon!r}" if cm.kind == "epsilon" else cm.kind)
    parts = ["bayesflight generate", f"--teacher {config.teacher}",
             f"--domain {config.domain.name}", f"--dialogues {config.n_dialogues}",
             f"--seed {config.seed}", f"--rounds {config.n_rounds}",
             f"--options {config.n_options}", f"--user-noise {noise}",
             f"--user-pool {config.users}"]
    if config.n_users is not None:
        parts.append(f"--users {config.n_users}")
    if config.heldout is None:
        heldout = config.seed if config.heldout_seed is None else config.heldout_seed
        parts += [f"--heldout-seed {heldout}", f"--heldout {config.n_heldout}"]
    elif heldout_file is None:
        raise ValueError("heldout_file must name the file of config.heldout, the held-out sets "
                         "the dialogues avoid, for the command that remakes them")
    else:
        parts.append(f"--heldout-file {heldout_file}")
    if config.scores:
        parts.append("--scores")
    elif config.statements and not config.evidence:
        parts.append("--statements")
    if config.evidence:
        parts.append("--evidence" + ("" if config.evidence == "differences"
                                     else f" {config.evidence}"))
    return " ".join([*parts, f"--out {out}"])


def _turn_text(config: Any) -> str:
    """What a teacher turn holds besides the answer, for the dataset card."""
    if config.evidence:
        return (" Each teacher turn after the first opens with what the user's last choice "
                "reveals, the chosen option against each one passed over, feature by "
                "feature" + (", each difference worked out from the two options' points"
                             if config.evidence == "worked" else "")
                + "." + _belief_text(config))
    return _belief_text(config)


def _belief_text(config: Any) -> str:
    """The statement and scores part of ``_turn_text``."""
    if config.scores:
        return (" Each teacher turn first states its belief about the user, feature by feature, "
                "then scores every option against that statement term by term, and "
                "recommends the best total.")
    if config.statements:
        return (" Each teacher turn first states its belief about the user, feature by feature, "
                "then recommends.")
    return ""


def write_dataset_card(directory: str | os.PathLike, config: Any, n_redrawn: int,
                       heldout_file: str | None = None) -> Path:
    """``directory/README.md`` for the teaching dialogues of ``config`` in
    ``directory/train.jsonl``: metadata ``datasets.load_dataset(directory)`` reads, the schema,
    how they were made. ``heldout_file``: as for ``generate_command``."""
    from huggingface_hub import DatasetCardData

    from .reference import DEFAULT_LEVELS, grid_size

    domain = config.domain
    n_users = grid_size(domain.n_features)
    metadata = DatasetCardData(
        language=["en"], task_categories=["text-generation"],
        tags=["bayesflight", "bayesian-teaching", "synthetic", "conversational"],
        size_categories=[_size_category(config.n_dialogues)],
        pretty_name=f"bayesflight {config.teacher} teaching dialogues ({domain.name})",
        configs=[{"config_name": "default",
                  "data_files": [{"split": "train", "path": DATASET_FILE}]}])
    schema = "\n".join(f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in SCHEMA)
    noise = config.choice_model.kind
    users = ("" if config.n_users is None else
             f", a seeded sample of {config.n_users} of them that the dialogues go through")
    heldout = (f"{len(config.heldout)} held-out option sets of `{heldout_file}`"
               if config.heldout is not None else
               f"{config.n_heldout} held-out option sets of the evaluation set with seed "
               f"{config.seed if config.heldout_seed is None else config.heldout_seed}")
    body = f"""
# bayesflight {config.teacher} teaching dialogues ({domain.name})

{config.n_dialogues} synthetic dialogues in which a simulated user and a teacher go through
{config.n_rounds} rounds of {domain.name} recommendations, {config.n_options} options a round,
for supervised fine-tuning of a language model ("Bayesian teaching", Qiu et al., 2025). Each
user has a hidden reward function, a weight on each of the {domain.n_features} features
({", ".join(domain.feature_names)}) from {len(DEFAULT_LEVELS)} levels ({n_users} reward
functions). The user chooses by that reward function ({noise} choice model); the teacher is
{TEACHER_TEXT[config.teacher]}.{_turn_text(config)}

## Files and schema

`{DATASET_FILE}`: one JSON object per line (the `train` split).

| field | type | meaning |
|---|---|---|
{schema}

## How it was made

bayesflight {__version__}; the same command gives the same bytes:

```bash
{generate_command(config, str(directory).rstrip("/" + os.sep) + "/", heldout_file)}
```

Users: `{config.users}` (`all`: every reward function, as the paper; `train`/`eval`: one side
of bayesflight's fixed split){users}. No round shows one of the {heldout}; {n_redrawn} rounds were
redrawn to avoid them.

## Use

```python
from datasets import load_dataset
dialogues = load_dataset("{directory}", split="train")
```

`bayesflight train --data {Path(directory) / DATASET_FILE} --out RUN` fine-tunes on it, with
the loss on the assistant turns only; TRL's `SFTTrainer(assistant_only_loss=True)` labels the
same tokens with the chat template that run writes, `RUN/chat_template_training.jinja`.
"""
    path = Path(directory) / CARD_FILE
    _card(metadata, body, "dataset").save(path)
    return path


# --- trained models --------------------------------------------------------------------------

def describe_data(path: str | os.PathLike) -> dict[str, Any]:
    """Counts of a teaching file: dialogues, assistant turns, and each teacher and domain
    (of the lines that name them)."""
    teachers, domains = Counter(), Counter()
    n = turns = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            n += 1
            turns += sum(m.get("role") == "assistant" for m in record.get("messages", []))
            if "teacher" in record:
                teachers[str(record["teacher"])] += 1
            if "domain" in record:
                domains[str(record["domain"])] += 1
    return {"dialogues": n, "assistant_turns": turns, "teachers": dict(teachers),
            "domains": dict(domains)}


def _hub_base(model: str) -> str | None:
    """The hub id of the base model, where there is one."""
    from .llm.embedded import EMBEDDED

    if model in EMBEDDED:
        return EMBEDDED[model].origin
    return None if Path(model).expanduser().exists() else model


def _mean_of_last(metrics: list[dict[str, Any]], key: str, n: int = 10) -> float | None:
    values = [m[key] for m in metrics[-n:] if key in m]
    return sum(values) / len(values) if values else None


def write_model_card(directory: str | os.PathLike, config: Any, base: str,
                     summary: dict[str, Any], metrics: list[dict[str, Any]], data_sha256: str,
                     template_note: str | None = None) -> Path:
    """``directory/README.md`` for the training run of ``config`` (``directory`` is its output
    directory, ``config.out``, or where its files are gathered before they move there): what
    it was taught, on which data, with which recipe, the training results, and how to load
    it. ``base``: what the adapter or model records as its base."""
    from huggingface_hub import ModelCardData

    from .llm.embedded import EMBEDDED

    lora = not config.full
    out = Path(config.out)
    data = describe_data(config.data)
    hub = _hub_base(config.model)
    metadata = ModelCardData(
        base_model=hub, library_name="peft" if lora else "transformers",
        pipeline_tag="text-generation",
        tags=["bayesflight", "bayesian-teaching", "lora" if lora else "full-fine-tuning",
              *sorted(data["teachers"])],
        model_name=out.resolve().name)
    taught = " and ".join(f"{n} {t}" for t, n in sorted(data["teachers"].items())) or str(
        data["dialogues"])
    teachers = "".join(f" The {t} teacher is {TEACHER_TEXT[t]}." for t in sorted(data["teachers"])
                       if t in TEACHER_TEXT)
    domains = f" ({', '.join(sorted(data['domains']))})" if data["domains"] else ""
    if config.model in EMBEDDED:
        origin = (f"`{config.model}`, bayesflight's embedded model: the Q4_1 GGUF of "
                  f"[{hub}](https://huggingface.co/{hub}) shipped in the PyPI package "
                  f"`{EMBEDDED[config.model].package}=={EMBEDDED[config.model].version}`, "
                  f"dequantised to float32. The base is recorded as its converted directory, "
                  f"`{base}`; on another machine, `bayesflight fetch-model` recreates it and "
                  f"`base_model_name_or_path` in `adapter_config.json` names where.")
    elif hub:
        origin = f"[{hub}](https://huggingface.co/{hub})"
    else:
        origin = f"the local model `{base}`"
    short_base = f"`{config.model}`" if config.model in EMBEDDED or not hub else f"`{hub}`"
    kind = (f"LoRA r={config.lora_r}, alpha={config.lora_alpha:g}, dropout="
            f"{config.lora_dropout:g} on the linear layers of "
            f"{'all' if config.lora_layers is None else f'the top {config.lora_layers}'} "
            f"decoder layers" if lora else "full fine-tuning")
    target = ("cross-entropy on the teacher's text (the paper's hard target)"
              if config.target == "hard" else
              f"KL from the teacher's option distribution to the model's at each answer "
              f"(soft target, weight {config.soft_weight:g}; the rest cross-entropy)")
    tokens = ("every assistant token" if config.loss_tokens == "assistant"
              else "the option-number token of each answer only")
    recipe = "\n".join(f"| `{k}` | `{json.dumps(v)}` |" for k, v in config.to_dict().items()
                       if k not in ("progress", "resume", "device"))
    results = [f"| optimizer steps | {summary['steps']} ({summary['epochs']:.2f} epochs) |",
               *([f"| exported from | the checkpoint of step {summary['checkpoint']['step']} "
                  f"of the run `{summary['checkpoint']['run']}` (`bayesflight "
                  f"export-checkpoint`) |"] if "checkpoint" in summary else []),
               f"| dialogues trained on | {summary['dialogues']} (truncated "
               f"{summary['truncated']}, dropped {summary['dropped']}) |",
               f"| tokens | {summary['tokens']:,} |",
               f"| training time | {summary['train_seconds']:.0f} s, "
               f"{summary['tokens_per_s']:,.0f} tokens/s |"]
    for key, label in (("loss", "loss"), ("answer_nll", "answer NLL (nats)"),
                       ("answer_agree", "agreement with the teacher's answer"),
                       ("kl", "KL from the teacher's option distribution")):
        first, last = _mean_of_last(metrics[:10], key), _mean_of_last(metrics, key)
        if first is not None and last is not None:
            results.append(f"| {label}, mean of the first / last 10 steps | {first:.4f} / "
                           f"{last:.4f} |")
    results_table = "\n".join(results)
    load = ("from peft import AutoPeftModelForCausalLM\n"
            f"model = AutoPeftModelForCausalLM.from_pretrained(\"{out}\")"
            if lora else
            "from transformers import AutoModelForCausalLM\n"
            f"model = AutoModelForCausalLM.from_pretrained(\"{out}\")")
    flag = "--adapter" if lora else "--model"
    template = (f"\n## Training the same data with TRL\n\n`chat_template_training.jinja` is "
                f"the model's chat template with `{{% generation %}}` markers: "
                f"{template_note}. Under it, TRL's "
                f"`SFTTrainer(args=SFTConfig(assistant_only_loss=True, chat_template_path=...))` "
                f"labels the same tokens of the same JSONL as this run.\n"
                if template_note else "")
    body = f"""
# {out.resolve().name}

{"A LoRA adapter of" if lora else "A full fine-tune of"} {short_base}, taught by bayesflight
{__version__} ("Bayesian teaching", Qiu et al., 2025) on {taught} teaching dialogues{domains}:
simulated users choose among options over several rounds, and the assistant should learn
their hidden preferences from their choices.{teachers}

## Base model

{origin}

## Data

`{config.data}`: {data['dialogues']} dialogues, {data['assistant_turns']} assistant turns
(SHA-256 `{data_sha256}`), made by `bayesflight generate`.

## Recipe

{kind}; loss: {target}, on {tokens}. Learning rate {config.learning_rate:g}, linear warm-up
over {config.warmup_ratio:g} of the steps then {_SCHEDULE_WORDS[config.lr_schedule]}, AdamW.
`train_config.json` holds every setting and reruns this training: `bayesflight train --config
train_config.json --out NEW`.

| setting | value |
|---|---|
{recipe}

## Results

Training (`metrics.jsonl` has every step):

| | |
|---|---|
{results_table}

Held-out accuracy is not measured by training: `bayesflight evaluate {flag} {out}`
puts the model through the paper's protocol beside the Bayesian assistant.

## Use

```python
{load}
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained("{out}")
```
{template}"""
    path = Path(directory) / CARD_FILE
    _card(metadata, body, "model").save(path)
    return path

"""Size a reproduction to a time budget from a short throughput probe on this device.

``reproduce --time-budget MINUTES`` first measures, with the scale's model and training
settings on whatever device is there, how long the model takes to load, how many training
tokens per second a step processes and how many evaluation questions per second it answers
(``probe``). ``plan`` then keeps the evaluation the scale asks for (fewer users if it would
take more than 40% of the budget), gives what is left, less a 15% margin and each training
run's start-up, to training in equal shares, and turns each share into a number of teaching
dialogues. A budget too small to train every variant on a few steps is refused, with the
minimum it would need.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .reproduce import Scale
from .variants import VARIANTS, mode

MARGIN = 0.15  # of the budget kept free for what the probe cannot see
EVAL_SHARE = 0.4  # the most of the budget the evaluation may take
MIN_STEPS = 4  # fewest optimizer steps per taught model worth running
BELIEF_SLOWDOWN = 5.0  # belief mode writes a statement before each answer: slower per question


@dataclass(frozen=True)
class Probe:
    """What the probe measured on this device."""

    device: str
    load_seconds: float
    train_tokens_per_s: float
    eval_questions_per_s: float
    tokens_per_dialogue: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def global_batch(train: dict[str, Any]) -> int:
    """Dialogues per optimizer step (one process) under these training settings."""
    if train.get("global_batch"):
        return int(train["global_batch"])
    return int(train.get("batch_size", 4)) * int(train.get("grad_accum", 1))


def questions(scale: Scale) -> int:
    """Questions one model answers on one domain's evaluation set."""
    return scale.eval_users * ((scale.eval_rounds + 1) * scale.eval_heldout + scale.eval_rounds)


def plan(scale: Scale, minutes: float, probe: Probe,
         seeds: int = 1) -> tuple[Scale, dict[str, Any]]:
    """The scale resized to finish in ``minutes`` on the probed device, its taught models
    trained and evaluated once per seed of ``seeds``, and how it was sized."""
    if not (isinstance(minutes, int | float) and math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"--time-budget must be a positive number of minutes, got {minutes!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    total = minutes * 60.0
    n_train = seeds * len(scale.variants)
    models = ["original", *scale.variants * seeds]

    def eval_seconds(users: int) -> float:
        per_question = 1.0 / probe.eval_questions_per_s
        q = questions(dataclasses.replace(scale, eval_users=users))
        return sum(len(scale.domains) * (probe.load_seconds + q * per_question
                                         * (BELIEF_SLOWDOWN if mode(m) == "belief" else 1))
                   for m in models)

    users = scale.eval_users
    while users > 1 and eval_seconds(users) > EVAL_SHARE * total:
        users = max(1, users // 2)
    evaluation = eval_seconds(users)
    start_up = n_train * (probe.load_seconds + 5.0)
    train_total = total * (1 - MARGIN) - evaluation - start_up
    epochs = int(scale.train.get("epochs", 1))
    per_step = global_batch(scale.train)
    step_seconds = per_step * probe.tokens_per_dialogue / probe.train_tokens_per_s
    need = (MIN_STEPS * step_seconds * epochs * n_train + evaluation + start_up) / (1 - MARGIN)
    if train_total <= 0 or train_total / n_train < MIN_STEPS * step_seconds * epochs:
        raise ValueError(
            f"--time-budget {minutes:g} minutes is too small on {probe.device}: evaluating "
            f"{len(models)} models on {len(scale.domains)} domain(s) with {users} user(s) takes "
            f"about {evaluation / 60:.1f} min and {n_train} training runs of {MIN_STEPS} steps "
            f"at {probe.train_tokens_per_s:,.0f} tokens/s about "
            f"{(MIN_STEPS * step_seconds * epochs * n_train + start_up) / 60:.1f} min; give at "
            f"least {math.ceil(need / 60)} minutes")
    tokens = train_total / n_train * probe.train_tokens_per_s
    dialogues = int(tokens / (probe.tokens_per_dialogue * epochs)) // per_step * per_step
    steps = dialogues * epochs // per_step
    train = {k: v for k, v in scale.train.items() if k != "max_steps"}
    if train.get("checkpoint_every", 50):  # about four checkpoints a run, not one a step
        train["checkpoint_every"] = max(int(train.get("checkpoint_every", 50)), steps // 4, 1)
    sized = dataclasses.replace(scale, train_dialogues=dialogues, eval_users=users, train=train,
                                name=f"{scale.name}-{minutes:g}min",
                                description=f"{scale.description}; sized to {minutes:g} min")
    sizing = {
        "time_budget_minutes": minutes,
        "probe": probe.to_dict(),
        "train_dialogues": dialogues,
        "steps_per_model": steps,
        "seeds": seeds,
        "eval_users": users,
        "expected_seconds": {"evaluate": round(evaluation), "train": round(train_total),
                             "start_up": round(start_up), "margin": round(total * MARGIN)},
    }
    return sized, sizing


def probe(scale: Scale, device: str = "auto", steps: int = 3) -> Probe:
    """Measure, on ``device``, the scale's model: load time, training tokens/s over ``steps``
    optimizer steps of its settings (the first one a warm-up), and scoring questions/s."""
    import torch

    from .devices import resolve_dtype
    from .domains import FLIGHT
    from .llm import load_model
    from .llm.assistant import LLMAssistant
    from .llm.compat import logits_at
    from .teacher import TeachingConfig, generate
    from .teacher_jsonl import render
    from .train import TrainConfig
    from .train.batching import collate
    from .train.data import tokenize_dialogues
    from .train.losses import loss_terms, objective
    from .train.modeling import prepare

    start = time.perf_counter()
    model, tokenizer = load_model(scale.model, device=device, dtype="fp32")
    load_seconds = time.perf_counter() - start
    where = next(model.parameters()).device
    config = TrainConfig(data="-", out="-", **scale.train)
    batch = config.batch_size
    statements = any(VARIANTS[v].teaching.statements for v in scale.variants)
    teaching = TeachingConfig("bayesian", FLIGHT, batch * (steps + 1), seed=12345,
                              n_rounds=scale.train_rounds, statements=statements)
    records = [json.loads(line) for chunk in generate(teaching) for line in render(chunk, teaching)]
    data = tokenize_dialogues(records, tokenizer, config.max_len, need_answers=True)
    net = prepare(model, config)
    net.train()
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-9)
    option_ids = torch.as_tensor(data.option_ids, device=where)
    bf16 = resolve_dtype(config.dtype, where) == torch.bfloat16  # as the trainer decides
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    tokens, seconds = 0, 0.0
    for i in range(steps):
        b = collate(data.examples[i * batch:(i + 1) * batch], pad).to(where)
        _sync(where)
        t0 = time.perf_counter()
        with torch.autocast(where.type, dtype=torch.bfloat16, enabled=bf16):
            logits = logits_at(net, b.input_ids, b.attention_mask, b.keep)
        terms = loss_terms(logits, b, option_ids)
        objective(terms, len(b.ce_index), len(b.answer_index), "hard", 1.0).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(where)
        if i > 0 or steps == 1:
            tokens, seconds = tokens + b.n_tokens, seconds + time.perf_counter() - t0
    net.eval()
    assistant = LLMAssistant(net, tokenizer, FLIGHT, batch_size=scale.eval_batch_size)
    rng = np.random.default_rng(0)
    sets = FLIGHT.sample(rng, (max(4, scale.eval_batch_size), 3))
    assistant.observe(sets[0], 0, 1)
    assistant.predict(sets[:2])  # warm-up
    t0 = time.perf_counter()
    assistant.predict(sets)
    eval_seconds = time.perf_counter() - t0
    return Probe(device=str(where), load_seconds=round(load_seconds, 2),
                 train_tokens_per_s=round(tokens / seconds, 1),
                 eval_questions_per_s=round(len(sets) / eval_seconds, 2),
                 tokens_per_dialogue=round(float(data.lengths.mean()), 1))


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)

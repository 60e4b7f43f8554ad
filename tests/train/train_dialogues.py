"""Helpers of the trainer's tests: small Bayesian teaching dialogues built with the reference
maths, the tiny model and data most tests train on, and runs under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from bayesflight import chat, reference
from bayesflight.domains import FLIGHT, Domain
from tiny_models import make_tiny_model


def bayesian_records(n: int, seed: int = 0, rounds: tuple[int, ...] = (5,),
                     domain: Domain = FLIGHT) -> list[dict]:
    """``n`` dialogues in the data format; each has a number of rounds drawn from ``rounds``."""
    rng = np.random.default_rng(seed)
    weights = reference.hypothesis_grid(domain.n_features)
    model = reference.ChoiceModel()
    records = []
    for idx in range(n):
        user = weights[rng.integers(len(weights))]
        options = domain.sample(rng, (int(rng.choice(rounds)), 3))
        log_p = reference.uniform_log_prior(len(weights))
        probs, recs, choices = [], [], []
        for x in options:
            p = reference.predictive(log_p, weights, x, model)
            probs.append(p.tolist())
            recs.append(int(reference.recommend_from(p)))
            choices.append(int(reference.best_option(x @ user)))
            log_p = reference.update(log_p, weights, x, choices[-1], model)
        messages = chat.conversation(domain, options, np.array(recs), np.array(choices))
        records.append({"idx": idx, "messages": messages, "option_probs": probs})
    return records


def write_jsonl(path: str | Path, records: list[dict]) -> Path:
    """Write ``records`` one JSON object per line; returns the path."""
    path = Path(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def tiny_world(root: Path, n: int, seed: int, rounds: tuple[int, ...] = (2, 3),
               **model: object) -> tuple[Path, str, str]:
    """A tiny model (``model``: make_tiny_model's settings) and ``n`` Bayesian dialogues in
    ``root``: (root, model directory, data file), the set-up of the training tests."""
    directory = make_tiny_model(root / "model", **model)
    data = write_jsonl(root / "data.jsonl", bayesian_records(n, seed=seed, rounds=rounds))
    return root, str(directory), str(data)


def fail_optimizer_step(patch, n: int, error: BaseException) -> None:
    """Through pytest's monkeypatch ``patch``, make the ``n``-th AdamW step raise ``error``: a
    run that fails, or is interrupted, at a step the test chooses."""
    import torch

    original, calls = torch.optim.AdamW.step, []

    def step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise error
        return original(self, *args, **kwargs)

    patch.setattr(torch.optim.AdamW, "step", step)


def step_losses(out: Path) -> list[float]:
    """The loss of every optimizer step of a finished run, from its metrics.jsonl."""
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``args`` (a module or script and its flags) as 2 gloo processes under torchrun,
    one thread each, with the same installed bayesflight."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", *args], env=env, capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def tensorboard_scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """The scalars of the TensorBoard event files in ``directory``: {tag: [(step, value)]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(directory))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}

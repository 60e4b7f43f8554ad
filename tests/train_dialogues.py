"""Helpers of the trainer's tests: small Bayesian teaching dialogues built with the reference
maths, and a fixture that runs tiny models on one thread."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bayesflight import chat, reference
from bayesflight.domains import FLIGHT, Domain


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


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny models on one thread: on a busy machine, more threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

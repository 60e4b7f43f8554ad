"""The per-step losses of two small fixed training runs, pinned to their values: a change to
the trainer, its data path or its device and dtype handling that alters what it computes shows
here, however small. The model is the portable tiny one (weights from a NumPy draw, a byte
tokenizer), so the numbers do not depend on the versions of transformers or tokenizers;
fp32 on a CPU, full fine-tuning (no LoRA initialisation, no dropout)."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight.train import TrainConfig, train
from train_dialogues import step_losses, tiny_world

PINNED = {
    "hard": [6.260268211364746, 5.836139678955078, 5.50679349899292, 5.330978870391846],
    "soft": [0.19993621110916138, 0.3242405652999878, 0.20947323739528656,
             0.0892462432384491],
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("pinned"), 4, seed=3, rounds=(2,),
                      hidden_size=32, portable=True)


@pytest.mark.parametrize("target", sorted(PINNED))
def test_the_losses_of_a_fixed_run_are_pinned(world, target):
    root, model, data = world
    out = train(TrainConfig(data=data, out=str(root / target), model=model, full=True,
                            target=target, batch_size=2, max_steps=4, lr=1e-3,
                            warmup_ratio=0.0, checkpoint_every=0, progress=False,
                            device="cpu", dtype="fp32"))
    np.testing.assert_allclose(step_losses(out), PINNED[target], rtol=1e-6, atol=0)

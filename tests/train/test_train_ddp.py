"""Two processes under torchrun (gloo on CPU) train the same steps as one with twice the batch."""

from __future__ import annotations

import pytest
import torch
from bayesflight.train import TrainConfig, train
from safetensors.torch import load_file
from tiny_models import make_tiny_model
from train_dialogues import (
    bayesian_records,
    step_losses,
    torchrun,
    write_jsonl,
)


@pytest.mark.slow
@pytest.mark.distributed
def test_two_gloo_processes_match_one_process_with_the_doubled_batch(tmp_path):
    model = make_tiny_model(tmp_path / "model")
    # 18 dialogues in global batches of 4: the last step has 2, one for each process.
    data = write_jsonl(tmp_path / "data.jsonl", bayesian_records(18, seed=9, rounds=(1, 2, 3)))
    common = ["--data", str(data), "--model", str(model), "--lora", "r=4,alpha=8,dropout=0",
              "--lr", "5e-3", "--epochs", "2", "--checkpoint-every", "3", "--no-progress"]
    command = ["-m", "bayesflight.cli", "train", *common, "--out", str(tmp_path / "two"),
               "--batch-size", "1", "--grad-accum", "2"]
    run = torchrun(command, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "of 1 x 2 x 2 dialogues" in run.stderr  # batch x accumulation x processes
    one = train(TrainConfig(data=str(data), model=str(model), out=str(tmp_path / "one"),
                            lora_r=4, lora_alpha=8.0, lora_dropout=0.0, lr=5e-3, epochs=2,
                            batch_size=4, checkpoint_every=3, progress=False))
    two = tmp_path / "two"
    assert len(step_losses(two)) == len(step_losses(one)) == 10
    assert step_losses(two) == pytest.approx(step_losses(one), rel=1e-5)
    mine, theirs = (load_file(str(p / "adapter_model.safetensors")) for p in (two, one))
    for name in theirs:
        torch.testing.assert_close(mine[name], theirs[name], rtol=1e-4, atol=1e-6)
    # A refusal (the directory holds a run now) stops every process, not only the first.
    again = torchrun(command, tmp_path)
    assert again.returncode != 0
    assert again.stderr.count("already holds a training run") == 2

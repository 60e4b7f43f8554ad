"""Full fine-tuning sharded with FSDP over two gloo processes: the same steps as one process
with the doubled batch, whole-tensor checkpoints, and resumption after kill -9."""

from __future__ import annotations

import pytest
import torch
from bayesflight.train import TrainConfig, train
from bayesflight.train.checkpoint import checkpoints
from safetensors.torch import load_file
from tiny_models import make_tiny_model
from train_dialogues import (
    bayesian_records,
    step_losses,
    torchrun,
    write_jsonl,
)

# A training process that SIGKILLs itself (process 0 only) at its n-th optimizer step.
CHILD = """
import os, signal, sys, torch
from bayesflight.cli import main

n, calls, original = int(sys.argv[1]), 0, torch.optim.AdamW.step

def step(self, *args, **kwargs):
    global calls
    calls += 1
    if calls == n and os.environ["RANK"] == "0":
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, *args, **kwargs)

torch.optim.AdamW.step = step
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fsdp")
    model = make_tiny_model(root / "model")
    # 18 dialogues in global batches of 4: the last step has 2, one for each process.
    data = write_jsonl(root / "data.jsonl", bayesian_records(18, seed=9, rounds=(1, 2, 3)))
    flags = ["--data", str(data), "--model", str(model), "--full", "--fsdp", "--lr", "1e-3",
             "--epochs", "2", "--checkpoint-every", "3", "--no-progress", "--batch-size", "1",
             "--grad-accum", "2"]
    run = torchrun(["-m", "bayesflight.cli", "train", *flags, "--out", str(root / "two")], root)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "of 1 x 2 x 2 dialogues" in run.stderr  # batch x accumulation x processes
    return root, model, data, flags


@pytest.mark.slow
@pytest.mark.distributed
def test_two_sharded_processes_match_one_process_with_the_doubled_batch(world):
    root, model, data, _ = world
    one = train(TrainConfig(data=str(data), model=str(model), out=str(root / "one"), full=True,
                            lr=1e-3, epochs=2, batch_size=4, checkpoint_every=3, progress=False))
    two = root / "two"
    assert len(step_losses(two)) == len(step_losses(one)) == 10
    assert step_losses(two) == pytest.approx(step_losses(one), rel=1e-5)
    mine, theirs = (load_file(str(p / "model.safetensors")) for p in (two, one))
    assert mine.keys() == theirs.keys()  # whole tensors, not shards, were saved
    for name in theirs:
        torch.testing.assert_close(mine[name], theirs[name], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.distributed
def test_a_sharded_run_killed_by_sigkill_resumes_to_the_same_weights(world):
    root, _, _, flags = world
    out = root / "killed"
    script = root / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    killed = torchrun([str(script), "8", "train", *flags, "--out", str(out)], root)
    assert killed.returncode != 0
    assert [p.name for p in checkpoints(out)] == ["step-00000006"]
    saved = torch.load(checkpoints(out)[0] / "trained.pt", weights_only=True)
    reference = load_file(str(root / "two" / "model.safetensors"))
    assert all(saved[name].shape == reference[name].shape for name in reference
               if name in saved)  # the checkpoint holds whole tensors
    resumed = torchrun(["-m", "bayesflight.cli", "train", *flags, "--out", str(out),
                         "--resume"], root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stderr
    assert step_losses(out) == pytest.approx(step_losses(root / "two"), rel=1e-5)
    mine = load_file(str(out / "model.safetensors"))
    for name in reference:
        torch.testing.assert_close(mine[name], reference[name], rtol=1e-5, atol=1e-7)


def test_fsdp_needs_full_fine_tuning():
    with pytest.raises(ValueError, match="fsdp shards full fine-tuning"):
        TrainConfig(data="d", out="o", fsdp=True)

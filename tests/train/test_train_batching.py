"""Length-grouped batches, their split among processes, and the tensors of a forward pass."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight.train.batching import collate, epoch_batches, micro_batches, staged_batches
from bayesflight.train.data import tokenize_dialogues
from tiny_models import make_tokenizer
from train_dialogues import bayesian_records


def _padding(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    padded = sum(len(b) * lengths[b].max() for b in batches)
    return 1 - lengths.sum() / padded


def test_every_example_once_per_epoch_in_a_seeded_order():
    lengths = np.random.default_rng(0).integers(100, 1000, size=203)
    epoch0 = epoch_batches(lengths, 8, seed=1, epoch=0)
    np.testing.assert_array_equal(np.sort(np.concatenate(epoch0)), np.arange(203))
    assert sorted(map(len, epoch0)) == [3] + [8] * 25
    again = epoch_batches(lengths, 8, seed=1, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(epoch0, again, strict=True))
    epoch1 = epoch_batches(lengths, 8, seed=1, epoch=1)
    assert not all(np.array_equal(a, b) for a, b in zip(epoch0, epoch1, strict=True))
    assert len(epoch_batches(lengths, 8, seed=1, epoch=0, min_size=4)) == 25


def test_without_stages_the_batches_are_exactly_an_unstaged_epoch():
    lengths = np.random.default_rng(2).integers(100, 1000, size=61)
    for epoch in (0, 1):
        plain = epoch_batches(lengths, 4, seed=5, epoch=epoch, min_size=2)
        staged = staged_batches(lengths, None, 4, seed=5, epoch=epoch, min_size=2)
        assert len(plain) == len(staged)
        assert all(np.array_equal(a, b) for a, b in zip(plain, staged, strict=True))


def test_stages_come_in_order_each_shuffled_within_itself():
    lengths = np.random.default_rng(3).integers(100, 1000, size=50)
    stages = [np.arange(0, 13), np.arange(13, 30), np.arange(30, 50)]  # 13, 17, 20 examples
    stage_of = np.repeat([0, 1, 2], [13, 17, 20])
    for epoch in (0, 1):  # every epoch goes through the stages in order
        batches = staged_batches(lengths, stages, 4, seed=1, epoch=epoch)
        order = [int(stage_of[b[0]]) for b in batches]
        assert order == [0] * 4 + [1] * 5 + [2] * 5  # each stage's own short last batch
        assert all(len(set(stage_of[b])) == 1 for b in batches)  # no batch mixes stages
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(50))
    again = staged_batches(lengths, stages, 4, seed=1, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(again, staged_batches(
        lengths, stages, 4, seed=1, epoch=0), strict=True))
    first = staged_batches(lengths, stages, 4, seed=1, epoch=0)[:4]
    assert not all(np.array_equal(a, b) for a, b in zip(
        first, staged_batches(lengths, stages, 4, seed=2, epoch=0)[:4], strict=True))


def test_length_grouping_keeps_padding_under_ten_percent():
    rng = np.random.default_rng(0)
    lengths = rng.integers(150, 1000, size=4000)  # 1 to 5 rounds of ~180 tokens
    grouped = epoch_batches(lengths, 16, seed=0, epoch=0)
    naive = np.array_split(rng.permutation(len(lengths)), len(lengths) // 16)
    assert _padding(lengths, grouped) < 0.10 < _padding(lengths, naive)


def test_processes_share_a_global_batch_without_overlap():
    lengths = np.random.default_rng(1).integers(10, 99, size=24)
    batch = np.arange(3, 15)  # 12 examples for 2 processes x 3 passes of 2
    shares = [micro_batches(batch, lengths, 2, rank, 2) for rank in range(2)]
    assert [len(s) for s in shares] == [3, 3]
    assert all(len(m) == 2 for s in shares for m in s)
    np.testing.assert_array_equal(np.sort(np.concatenate(shares[0] + shares[1])), batch)
    short = micro_batches(batch[:5], lengths, 2, 1, 2)
    assert [len(m) for m in short] == [2]


@pytest.mark.parametrize("digit_only", [False, True])
def test_collate_points_each_loss_row_at_the_token_it_predicts(digit_only):
    tokenizer = make_tokenizer()
    data = tokenize_dialogues(bayesian_records(3, rounds=(1, 3)), tokenizer, 4096)
    examples = data.examples
    batch = collate(examples, pad_id=tokenizer.pad_token_id, digit_only=digit_only)
    width = max(len(e) for e in examples)
    assert batch.input_ids.shape == (3, width) and batch.n_tokens == sum(map(len, examples))
    np.testing.assert_array_equal(batch.attention_mask.sum(1).numpy(), [len(e) for e in examples])
    # The kept positions in row-major order; row j of the logits predicts position + 1.
    rows, cols = np.nonzero(batch.keep.numpy())
    predicted = batch.input_ids.numpy()[rows, cols + 1]
    wanted = [(r, t) for r, e in enumerate(examples)
              for t in (e.answer_pos if digit_only else np.flatnonzero(e.labelled))]
    np.testing.assert_array_equal(predicted[batch.ce_index.numpy()],
                                  [examples[r].input_ids[t] for r, t in wanted])
    answers = np.concatenate([e.answer for e in examples])
    np.testing.assert_array_equal(predicted[batch.answer_index.numpy()],
                                  data.option_ids[answers])
    np.testing.assert_array_equal(batch.answer.numpy(), answers)
    assert batch.option_probs.shape == (len(answers), 3)

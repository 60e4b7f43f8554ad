"""Which examples go into each optimizer step and forward pass, and how they become tensors.

An epoch is a list of global batches (the examples of one optimizer step over all processes),
a deterministic function of (seed, epoch): resuming at step s needs nothing but s. Examples of
similar length share a global batch, so that padding stays small; each process then takes a
contiguous share of its global batch (sorted by length) and cuts it into micro-batches.
The loss of a step is a mean over the whole global batch, however it is split, so one process
with batch 2B and two processes with batch B compute the same thing.

With stages (a curriculum, ``TrainConfig.stage_key``), an epoch is each stage's own epoch in
stage order: the examples of a stage are batched and shuffled among themselves only, so no
batch mixes two stages, and stage 2 starts once every batch of stage 1 is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .data import Example

MEGA_BATCHES = 32  # global batches sorted together: shuffled enough, padded little


def epoch_batches(lengths: np.ndarray, size: int, seed: int, epoch: int,
                  min_size: int = 1, stage: int | None = None) -> list[np.ndarray]:
    """Example indices of each optimizer step of ``epoch``, grouped by length.

    lengths (N,) token counts; ``size`` examples per global batch. Examples are shuffled,
    sorted by length within blocks of MEGA_BATCHES batches, cut into batches, and the batches
    shuffled. The one batch that may come out short is dropped if under ``min_size``.
    ``stage`` (a curriculum stage's number) gives the stage its own random stream; None is
    the stream of an unstaged run.
    """
    rng = np.random.default_rng([seed, epoch] if stage is None else [seed, epoch, stage])
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), size * MEGA_BATCHES):
        block = order[start:start + size * MEGA_BATCHES]
        block = block[np.argsort(-lengths[block], kind="stable")]
        batches += [block[i:i + size] for i in range(0, len(block), size)]
    batches = [b for b in batches if len(b) >= min_size]
    return [batches[i] for i in rng.permutation(len(batches))]


def staged_batches(lengths: np.ndarray, stages: Sequence[np.ndarray] | None, size: int,
                   seed: int, epoch: int, min_size: int = 1) -> list[np.ndarray]:
    """``epoch_batches`` of every stage in order, as indices into ``lengths``.

    ``stages`` holds each stage's example indices (in stage order); None: no stages, exactly
    ``epoch_batches(lengths, size, seed, epoch, min_size)``. Each stage is an epoch of its own
    (its own shuffle, its own short last batch), so a batch never mixes stages.
    """
    if stages is None:
        return epoch_batches(lengths, size, seed, epoch, min_size)
    batches: list[np.ndarray] = []
    for number, members in enumerate(stages):
        members = np.asarray(members, dtype=np.int64)
        batches += [members[b] for b in epoch_batches(lengths[members], size, seed, epoch,
                                                      min_size, stage=number)]
    return batches


def micro_batches(batch: np.ndarray, lengths: np.ndarray, world_size: int, rank: int,
                  micro_size: int) -> list[np.ndarray]:
    """This process's forward passes for a global batch: its contiguous share, by length."""
    ordered = batch[np.argsort(-lengths[batch], kind="stable")]
    share = np.array_split(ordered, world_size)[rank]
    return [share[i:i + micro_size] for i in range(0, len(share), micro_size)]


@dataclass
class Batch:
    """One forward pass. B rows of L tokens; P kept positions; N CE targets; A answers."""

    input_ids: torch.Tensor  # (B, L) int64, right-padded
    attention_mask: torch.Tensor  # (B, L) int64
    keep: torch.Tensor  # (B, L) bool: positions whose next-token logits are needed (P of them)
    ce_index: torch.Tensor  # (N,) rows of the (P, V) logits trained with cross-entropy
    ce_target: torch.Tensor  # (N,) the token each of those rows should predict
    answer_index: torch.Tensor  # (A,) rows of the logits that predict an option number
    answer: torch.Tensor  # (A,) int64: 0-based option named in the teacher's text
    option_probs: torch.Tensor  # (A, K) float32: the teacher's distribution
    n_tokens: int  # non-padding tokens

    def to(self, device: torch.device) -> Batch:
        moved = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                 for k, v in vars(self).items()}
        return Batch(**moved)


def collate(examples: Sequence[Example], pad_id: int, digit_only: bool = False) -> Batch:
    """Right-pad ``examples`` into a Batch; ``digit_only`` trains CE on the answers alone."""
    lengths = [len(e) for e in examples]
    b, width = len(examples), max(lengths)
    ids = np.full((b, width + 1), pad_id, dtype=np.int64)  # one spare column for targets
    ce = np.zeros((b, width), dtype=bool)
    ans = np.zeros((b, width), dtype=bool)
    for row, (ex, n) in enumerate(zip(examples, lengths, strict=True)):
        ids[row, :n] = ex.input_ids
        ans[row, ex.answer_pos - 1] = True
        if digit_only:
            ce[row, ex.answer_pos - 1] = True
        else:
            ce[row, :n - 1] = ex.labelled[1:]
    keep = ce | ans
    kept_row = np.cumsum(keep.ravel()) - 1  # index of each kept position among the P
    rows, cols = np.nonzero(ce)
    k = max((e.option_probs.shape[1] for e in examples), default=0)
    probs = [e.option_probs for e in examples if len(e.option_probs)]
    return Batch(
        input_ids=torch.from_numpy(ids[:, :width]),
        attention_mask=torch.from_numpy(
            (np.arange(width) < np.array(lengths)[:, None]).astype(np.int64)),
        keep=torch.from_numpy(keep),
        ce_index=torch.from_numpy(kept_row[ce.ravel()]),
        ce_target=torch.from_numpy(ids[rows, cols + 1]),
        answer_index=torch.from_numpy(kept_row[ans.ravel()]),
        answer=torch.from_numpy(np.concatenate([e.answer for e in examples])),
        option_probs=torch.from_numpy(
            np.concatenate(probs) if probs else np.zeros((0, k))).float(),
        n_tokens=int(sum(lengths)),
    )

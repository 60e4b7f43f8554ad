"""The training objectives: cross-entropy on the teacher's text, KL to its option distribution.

Every term is a sum over one forward pass; the trainer divides by counts over the whole
global batch, so that the loss of a step does not depend on how it is split into passes or
processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .batching import Batch


@dataclass
class Terms:
    """Sums over one forward pass (0-d tensors); only ``ce`` and ``kl`` carry gradients."""

    ce: torch.Tensor  # cross-entropy of the labelled tokens
    kl: torch.Tensor  # KL(teacher || model) over the K option numbers at each answer
    answer_nll: torch.Tensor  # -log p(teacher's option number), over the whole vocabulary
    agree: torch.Tensor  # answers where the model's likeliest option is the teacher's


def loss_terms(logits: torch.Tensor, batch: Batch, option_ids: torch.Tensor | None) -> Terms:
    """The sums of one pass from its kept logits (P, V) and the option-number ids (K,)."""
    ce = F.cross_entropy(logits[batch.ce_index].float(), batch.ce_target, reduction="sum")
    if option_ids is None or len(batch.answer_index) == 0:
        zero = ce.new_zeros(())
        return Terms(ce, zero, zero, zero)
    answer_logits = logits[batch.answer_index].float()  # (A, V)
    log_q = F.log_softmax(answer_logits[:, option_ids], dim=-1)  # (A, K)
    p = batch.option_probs
    kl = (torch.xlogy(p, p) - p * log_q).sum()
    with torch.no_grad():
        nll = F.cross_entropy(answer_logits, option_ids[batch.answer], reduction="sum")
        agree = (log_q.argmax(-1) == batch.answer).sum().to(ce.dtype)
    return Terms(ce, kl, nll, agree)


def objective(terms: Terms, n_ce: int, n_answers: int, target: str,
              soft_weight: float) -> torch.Tensor:
    """This pass's share of the step loss: mean CE (hard) or w KL + (1 - w) CE (soft).

    ``n_ce`` and ``n_answers`` count the CE tokens and answers of the whole global batch.
    """
    ce = terms.ce / max(n_ce, 1)
    if target == "hard":
        return ce
    kl = terms.kl / max(n_answers, 1)
    return soft_weight * kl + (1.0 - soft_weight) * ce

"""The objectives against the model's own loss and a direct computation from full logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bayesflight.llm.compat import logits_at
from bayesflight.train.batching import collate
from bayesflight.train.data import tokenize_dialogues
from bayesflight.train.losses import Terms, loss_terms, objective
from tiny_models import make_tiny_model
from train_dialogues import bayesian_records


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = make_tiny_model(tmp_path_factory.mktemp("tiny"))
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    data = tokenize_dialogues(bayesian_records(3, seed=4, rounds=(2, 4)), tokenizer, 4096)
    return model, tokenizer, data


def _kept_logits(model, batch):
    with torch.no_grad():
        return logits_at(model, batch.input_ids, batch.attention_mask, batch.keep)


def test_cross_entropy_equals_the_models_own_loss_on_assistant_labels(setup):
    model, tokenizer, data = setup
    batch = collate(data.examples, tokenizer.pad_token_id)
    terms = loss_terms(_kept_logits(model, batch), batch, torch.as_tensor(data.option_ids))
    labels = torch.full_like(batch.input_ids, -100)
    for row, ex in enumerate(data.examples):
        labels[row, :len(ex)][torch.from_numpy(ex.labelled)] = torch.from_numpy(
            ex.input_ids[ex.labelled])
    with torch.no_grad():
        reference = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                          labels=labels).loss
    n = sum(int(e.labelled.sum()) for e in data.examples)
    assert len(batch.ce_index) == n
    torch.testing.assert_close(terms.ce / n, reference, rtol=1e-5, atol=1e-6)


def test_kl_and_answer_metrics_match_full_logits(setup):
    model, tokenizer, data = setup
    batch = collate(data.examples, tokenizer.pad_token_id)
    option_ids = torch.as_tensor(data.option_ids)
    terms = loss_terms(_kept_logits(model, batch), batch, option_ids)
    with torch.no_grad():
        full = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    kl = nll = agree = 0.0
    for row, ex in enumerate(data.examples):
        for pos, answer, p in zip(ex.answer_pos, ex.answer, ex.option_probs, strict=True):
            logits = full[row, pos - 1].double()
            log_q = torch.log_softmax(logits[option_ids], -1).numpy()
            kl += float(np.sum(p[p > 0] * (np.log(p[p > 0]) - log_q[p > 0])))
            nll += float(-torch.log_softmax(logits, -1)[option_ids[answer]])
            agree += float(np.argmax(log_q) == answer)
    np.testing.assert_allclose([terms.kl.item(), terms.answer_nll.item(), terms.agree.item()],
                               [kl, nll, agree], rtol=1e-5)


def test_kl_vanishes_when_the_teacher_is_the_model(setup):
    model, tokenizer, data = setup
    batch = collate(data.examples, tokenizer.pad_token_id)
    option_ids = torch.as_tensor(data.option_ids)
    logits = _kept_logits(model, batch)
    batch.option_probs = torch.softmax(logits[batch.answer_index][:, option_ids].float(), -1)
    assert abs(loss_terms(logits, batch, option_ids).kl.item()) < 1e-6


def test_objective_mixes_kl_and_cross_entropy_by_the_soft_weight():
    terms = Terms(ce=torch.tensor(30.0), kl=torch.tensor(2.0), answer_nll=torch.tensor(0.0),
                  agree=torch.tensor(0.0))
    assert objective(terms, 10, 4, "hard", 0.25).item() == pytest.approx(3.0)
    assert objective(terms, 10, 4, "soft", 1.0).item() == pytest.approx(0.5)
    assert objective(terms, 10, 4, "soft", 0.25).item() == pytest.approx(0.25 * 0.5 + 0.75 * 3)

"""Linear probes of a model's hidden states at the answer positions of teaching dialogues.

When fine-tuning does not make a model update (docs/results.md), a probe asks a narrower
question of the model as it is: is the teacher's answer already written, linearly, in the hidden
state from which the model predicts the option number? If a multinomial logistic regression
fitted on some layer's states predicts the Bayesian teacher's answer on unseen users and its
accuracy rises with the rounds, the network already computes the update and fine-tuning only
has to route it to the output; if no layer does, fine-tuning has to build the computation.

``answer_states`` runs the model over dialogues (``bayesflight generate`` files) and keeps, at
every layer, the state just before each answer's option-number token: the state whose output
row scores the options. ``fit_probe`` fits one probe (standardised inputs, L2 penalty,
L-BFGS in float64: deterministic); ``probe_layers`` fits one per layer on one file and scores
it on another, by round. Besides the teacher's answer, a probe can target the user's own
choice or what a static reference assistant would answer (``prior-majority``: the Bayesian
rule with no evidence; ``cheapest``: one feature compared), to ask whether the model reads
the options at all before asking whether it updates.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import chat
from ..assistants import make_assistant
from ..domains import get_domain
from ..metrics import format_ci, mean_ci95
from ..train.data import tokenize_dialogues

# What a probe can be fitted to predict: the teacher's answer, the user's choice, or the
# answer of a reference assistant that needs nothing of the user (computed from the options
# parsed back from each question).
STATIC_ASSISTANTS = ("prior-majority", "cheapest")
TARGETS = ("teacher", "choice", *STATIC_ASSISTANTS)


@dataclass(frozen=True)
class AnswerStates:
    """The hidden states before the N answers of some dialogues, at the model's L+1 layers
    (the embeddings, then each decoder layer; the last one after the final norm)."""

    states: np.ndarray  # (N, L+1, D) float32
    rounds: np.ndarray  # (N,) int64: the answer's round in its dialogue, from 0
    teacher: np.ndarray  # (N,) int64: the 0-based option the teacher's answer names
    choice: np.ndarray  # (N,) int64: the option the user chose in that round
    dialogue: np.ndarray  # (N,) int64: the record the answer comes from
    n_options: int
    assistants: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (N,) answers
    notes: tuple[str, ...] = ()  # what tokenising skipped, truncated or dropped

    def __len__(self) -> int:
        return len(self.rounds)

    def target(self, name: str) -> np.ndarray:
        """(N,) the options ``name`` (one of TARGETS) names at each answer."""
        if name in ("teacher", "choice"):
            return getattr(self, name)
        if name not in self.assistants:
            raise ValueError(f"target must be one of {', '.join(TARGETS)} and computed by "
                             f"answer_states(assistants=...), got {name!r}")
        return self.assistants[name]


@dataclass(frozen=True)
class LinearProbe:
    """softmax(((x - mean) / scale) @ weight + bias) over the K options."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    weight: np.ndarray  # (D, K)
    bias: np.ndarray  # (K,)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(N, D) states -> (N, K) scores."""
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.weight + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N, D) states -> (N,) the highest-scoring option (the lowest index on a tie)."""
        return self.logits(x).argmax(axis=1)


def answer_states(model: Any, tokenizer: Any, records: Sequence[dict[str, Any]],
                  batch_size: int = 8, max_len: int = 4096,
                  assistants: Sequence[str] = (), source: str = "dialogues",
                  progress: Callable[[int], None] | None = None) -> AnswerStates:
    """Run ``model`` over the dialogues ``records`` and keep every layer's hidden state just
    before each answer's option number. The records must pass ``check_records`` (``source``
    names them in its errors and in the notes); a dialogue is cut to ``max_len`` tokens like
    the trainer cuts it (the answers past it are dropped, and ``notes`` says so).
    ``assistants`` (of STATIC_ASSISTANTS): also record what each would answer to each
    question. ``progress`` is called with the number of dialogues done after each batch."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    import torch

    unknown = [name for name in assistants if name not in STATIC_ASSISTANTS]
    if unknown:
        raise ValueError(f"assistants must be among {', '.join(STATIC_ASSISTANTS)}, "
                         f"got {unknown}")
    check_records(records, source)
    with warnings.catch_warnings():  # what tokenising cut is kept in ``notes`` instead
        warnings.simplefilter("ignore")
        data = tokenize_dialogues(list(records), tokenizer, max_len, need_answers=True,
                                  source=source)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    states, rounds, teacher, choice, dialogue = [], [], [], [], []
    static: dict[str, list[np.ndarray]] = {name: [] for name in assistants}
    for start in range(0, len(data.examples), batch_size):
        batch = data.examples[start:start + batch_size]
        width = max(len(e) for e in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, e in enumerate(batch):  # right padding: every answer keeps its position
            ids[row, :len(e)] = torch.from_numpy(e.input_ids)
            mask[row, :len(e)] = 1
        with torch.inference_mode():
            hidden = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                           output_hidden_states=True, use_cache=False).hidden_states
        for row, e in enumerate(batch):
            line = data.record_index[start + row]
            at = torch.from_numpy(e.answer_pos - 1).to(device)
            # (A, L+1, D): only the answers' rows of each layer are copied
            states.append(torch.stack([h[row, at] for h in hidden], dim=1)
                          .float().cpu().numpy())
            n = len(e.answer_pos)
            record = records[line]
            rounds.append(np.arange(n))
            teacher.append(e.answer)
            choice.append(np.asarray(record["choices"][:n], dtype=np.int64))
            dialogue.append(np.full(n, line))
            for name, answers in static_answers(record, n, assistants).items():
                static[name].append(answers)
        if progress is not None:
            progress(min(start + batch_size, len(data.examples)))
    return AnswerStates(np.concatenate(states), np.concatenate(rounds),
                        np.concatenate(teacher).astype(np.int64), np.concatenate(choice),
                        np.concatenate(dialogue).astype(np.int64), int(len(data.option_ids)),
                        {name: np.concatenate(a) for name, a in static.items()},
                        tuple(data.notes))


@functools.cache
def _static_assistant(name: str, domain_name: str) -> Any:
    return make_assistant(name, get_domain(domain_name))


def static_answers(record: dict[str, Any], n: int,
                   assistants: Sequence[str]) -> dict[str, np.ndarray]:
    """What each of ``assistants`` recommends for the first ``n`` questions of ``record``:
    the options parsed back from the user turn before each of its first ``n`` assistant
    turns (ties as ``Assistant.recommend`` breaks them)."""
    if not assistants:
        return {}
    name = record.get("domain", "flight")
    messages = record["messages"]
    turns = [messages[i - 1]["content"] for i, m in enumerate(messages)
             if m["role"] == "assistant" and i > 0 and messages[i - 1]["role"] == "user"][:n]
    if len(turns) != n:
        raise ValueError(f"a dialogue has {n} answers but {len(turns)} of them follow a "
                         f"user's question")
    options = np.stack([chat.parse_question(get_domain(name), turn) for turn in turns])
    return {a: np.asarray(_static_assistant(a, name).recommend(options), dtype=np.int64)
            for a in assistants}


def check_records(records: Sequence[dict[str, Any]], source: str) -> tuple[list[str], int]:
    """Refuse, in one line naming ``source`` and the line, dialogues a probe cannot use: no
    known ``domain``, no ``option_probs`` (the teacher's answers) or sets of another size,
    ``choices`` that are not the user's option (0..K-1) in every round. Returns the domains
    (sorted) and K, which the files a probe is fitted and scored on must share."""
    if not records:
        raise ValueError(f"{source}: no dialogues")
    domains: set[str] = set()
    widths: set[int] = set()
    for i, record in enumerate(records, 1):
        where = f"{source} line {i}"
        name = record.get("domain", "flight")
        if not isinstance(name, str):
            raise ValueError(f"{where}: 'domain' must be a domain name, got {name!r}")
        try:
            get_domain(name)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        n = sum(m.get("role") == "assistant" for m in record["messages"])
        if n == 0:
            continue  # nothing to probe: tokenising skips it, and says so in the notes
        probs = record.get("option_probs")
        if not isinstance(probs, list) or not probs or not isinstance(probs[0], list):
            raise ValueError(f"{where}: no 'option_probs' (the teacher's answers, which "
                             "bayesflight generate writes)")
        k = len(probs[0])
        choices = record.get("choices")
        if not (isinstance(choices, list) and len(choices) >= n
                and all(type(c) is int and 0 <= c < k for c in choices)):
            raise ValueError(f"{where}: 'choices' must give the user's choice (0..{k - 1}) in "
                             f"each of its {n} rounds, as bayesflight generate writes them")
        domains.add(name)
        widths.add(k)
    if not widths:
        raise ValueError(f"{source}: no dialogue has an answer to probe")
    if len(widths) > 1:
        raise ValueError(f"{source}: option sets of {sorted(widths)} options; a probe needs one "
                         f"size")
    return sorted(domains), widths.pop()


def fit_probe(x: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 1e-2,
              max_iter: int = 500) -> LinearProbe:
    """Multinomial logistic regression of ``y`` (N,) on ``x`` (N, D): inputs standardised
    with the fitted data's mean and deviation, mean cross-entropy + ``l2`` · ||weight||²,
    minimised by L-BFGS in float64 from zeros (the same data give the same probe)."""
    import torch

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.int64)
    if x.ndim != 2 or y.shape != (len(x),) or len(x) == 0:
        raise ValueError(f"x must be (N, D) and y (N,) with N > 0, got {x.shape} and {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x must be finite")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must hold classes 0..{n_classes - 1}")
    if not (l2 >= 0 and np.isfinite(l2)):
        raise ValueError(f"l2 must be a non-negative number, got {l2!r}")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)  # a constant input is left at zero
    inputs = torch.from_numpy((x - mean) / scale)
    target = torch.from_numpy(y)
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter,
                                  line_search_fn="strong_wolfe")

    def closure() -> Any:
        optimizer.zero_grad()
        loss = (torch.nn.functional.cross_entropy(inputs @ weight + bias, target)
                + l2 * (weight ** 2).sum())
        loss.backward()
        return loss

    optimizer.step(closure)
    return LinearProbe(mean, scale, weight.detach().numpy(), bias.detach().numpy())


def rates(key: str, hit: np.ndarray, rounds: np.ndarray, n_rounds: int) -> dict[str, list]:
    """The share of ``hit`` in each round 0..n_rounds-1 as ``key`` and its normal 95%
    interval over the round's answers (one per dialogue) as ``key_ci95``; None where a round
    has no answer."""
    means: list[float | None] = []
    intervals: list[list[float] | None] = []
    for r in range(n_rounds):
        at = hit[rounds == r]
        if not len(at):
            means.append(None)
            intervals.append(None)
            continue
        mean, interval = mean_ci95(at.astype(np.float64))
        means.append(float(mean))
        intervals.append([float(v) for v in interval])
    return {key: means, f"{key}_ci95": intervals}


def probe_layers(train: AnswerStates, test: AnswerStates, layers: Sequence[int],
                 l2: float = 1e-2, target: str = "teacher") -> dict[str, Any]:
    """Fit a probe of ``target`` (the teacher's answer by default; one of TARGETS) on
    ``train``'s states at each of ``layers`` and score it on ``test``, by round: agreement
    with the target, and accuracy (the user's own choice), each with its 95% CI. Also the
    references on ``test``: the teacher's accuracy, and the constant answer (the option the
    target names most often in ``train``), the line a probe must clear."""
    y_train, y_test = train.target(target), test.target(target)
    if train.n_options != test.n_options:
        raise ValueError(f"the train dialogues have {train.n_options} options per set and the "
                         f"test dialogues {test.n_options}")
    depth = train.states.shape[1]
    if train.states.shape[2] != test.states.shape[2] or test.states.shape[1] != depth:
        raise ValueError("train and test states come from different models")
    bad = [layer for layer in layers if not 0 <= layer < depth]
    if bad:
        raise ValueError(f"layers must lie in 0..{depth - 1} (the embeddings and "
                         f"{depth - 1} decoder layers), got {bad}")
    n_rounds = int(max(train.rounds.max(), test.rounds.max())) + 1
    constant = int(np.bincount(y_train, minlength=train.n_options).argmax())

    def scored(answers: np.ndarray) -> dict[str, list]:
        return {**rates("agreement", answers == y_test, test.rounds, n_rounds),
                **rates("accuracy", answers == test.choice, test.rounds, n_rounds)}

    result: dict[str, Any] = {
        "target": target, "n_train": len(train), "n_test": len(test),
        "n_options": train.n_options, "l2": l2, "n_layers": depth,
        "teacher": rates("accuracy", test.teacher == test.choice, test.rounds, n_rounds),
        "constant": {"option": constant, **scored(np.full_like(y_test, constant))},
        "layers": [],
    }
    for layer in layers:
        if not (np.isfinite(train.states[:, layer]).all()
                and np.isfinite(test.states[:, layer]).all()):
            raise ValueError(f"layer {layer}'s hidden states are not finite (an overflow of "
                             "the model's precision: compute in fp32, --dtype fp32)")
        probe = fit_probe(train.states[:, layer], y_train, train.n_options, l2)
        fitted = probe.predict(train.states[:, layer])
        result["layers"].append({
            "layer": int(layer),
            "train_agreement": float((fitted == y_train).mean()),
            **scored(probe.predict(test.states[:, layer])),
        })
    return result


def format_probe(result: dict[str, Any]) -> str:
    """The markdown table of ``probe_layers``' result: one row per layer and reference, each
    share by round with its 95% CI half-width."""
    n_rounds = len(result["teacher"]["accuracy"])
    rounds = " | ".join(f"r{r}" for r in range(n_rounds))

    def cells(row: dict[str, Any], key: str) -> str:
        return " | ".join("–" if v is None else format_ci(v, ci)
                          for v, ci in zip(row[key], row[f"{key}_ci95"], strict=True))

    lines = [f"| probe of the {result['target']} | fitted agreement | agreement: {rounds} | "
             f"accuracy: {rounds} |", "|---" * (2 + 2 * n_rounds) + "|"]
    lines.append(f"| the teacher itself | – | {' | '.join(['–'] * n_rounds)} | "
                 f"{cells(result['teacher'], 'accuracy')} |")
    constant = result["constant"]
    lines.append(f"| always option {constant['option'] + 1} | – | "
                 f"{cells(constant, 'agreement')} | {cells(constant, 'accuracy')} |")
    for row in result["layers"]:
        lines.append(f"| layer {row['layer']} | {row['train_agreement']:.3f} | "
                     f"{cells(row, 'agreement')} | {cells(row, 'accuracy')} |")
    return "\n".join(lines)

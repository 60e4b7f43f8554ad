"""A causal language model as an assistant in the paper's protocol.

The conversation is the paper's exact chat (``bayesflight.chat``) under the model's own chat
template. In ``score`` mode the model's choice is its next-token distribution over the option
numbers after the assistant's answer prefix ``The best option is Flight `` (a probability over
the K options; nothing to parse, nothing can fail). In ``generate`` mode, as in the paper,
the model answers freely (greedy) and the answer is parsed; unparseable answers count as
failures and predict uniformly (so recommend the first option). In ``belief`` mode (for
models taught with belief statements) the model first writes its own statement of what it
believes (greedy, up to the answer prefix), then the option numbers are scored after that
statement and the answer prefix; in the rounds, its own statement stays in the conversation.
In ``given`` mode the statement is not the model's but the exact one the Bayesian teacher of
``generate --statements`` would make from the user's choices revealed so far
(``statements.revealed_statements``), scored after as in belief mode: it measures acting on a
correct belief, so that the gap to belief mode is the cost of writing the statement.
With ``scores`` (models taught with ``generate --scores``) the model also writes its option
scores before the answer (``bayesflight.option_scores``): after its own statement in belief
mode, after the given one in given mode; the digit is scored after them, and they stay in the
conversation with the statement. With ``evidence`` (one of ``evidence.FORMS``, for models
taught with ``generate --evidence [FORM]``) every turn after the first opens with the evidence
of the user's last choice (``bayesflight.evidence``) in that form: written by the model in
belief mode, given with the statement in given mode.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import chat
from ..assistants.base import Assistant
from ..domains import FLIGHT, Domain
from ..evidence import check_form, with_evidence
from ..reference import ChoiceModel
from ..statements import revealed_statements
from .scoring import PrefixScorer, common_prefix_length

MODES = ("score", "generate", "belief", "given")
STATED = ("belief", "given")  # the modes whose answers start with a belief statement
STATEMENT_END = "The best option is"  # a belief statement is the text before this
# The most tokens the evidence of one feature takes in each form: its label, then "+10," or
# "10 - 0 = +10," with digits and spaces apart (the widest of the tokenizers here).
EVIDENCE_TOKENS = {"differences": 8, "worked": 18}


class LLMAssistant(Assistant):
    """Recommends by asking a chat model; one instance serves one user at a time.

    The KV cache of the conversation is kept across calls (and across users, whose
    conversations share the instruction), so each round's new turns are encoded once and the
    N held-out questions after it are scored in batches of ``batch_size`` on top of it.
    The assistant turns in the conversation are always the canonical ``The best option is
    Flight N.`` of the recommendation the protocol made (after the statement in ``belief``
    and ``given`` modes, and the scores with ``scores``). ``choice_model`` is the users'
    choice model the given statements' posterior assumes (``given`` mode). ``scorer``
    replaces the default prefix-caching one (e.g. one without a shared prefix, to batch
    prompts of many users).
    """

    def __init__(
        self,
        model,
        tokenizer,
        domain: Domain = FLIGHT,
        mode: str = "score",
        batch_size: int = 16,
        use_cache: bool = True,
        max_new_tokens: int = 32,
        name: str = "llm",
        progress: Callable[[int], object] | None = None,
        scorer: PrefixScorer | None = None,
        choice_model: ChoiceModel = ChoiceModel(),
        scores: bool = False,
        evidence: str | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if scores and mode not in STATED:
            raise ValueError(f"scores need a mode with belief statements {STATED}, got "
                             f"{mode!r}")
        if evidence is not None:
            check_form(evidence)
        if evidence and mode not in STATED:
            raise ValueError(f"evidence needs a mode with belief statements {STATED}, got "
                             f"{mode!r}")
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("tokenizer must have a chat template")
        self.model, self.tokenizer, self.domain, self.mode = model, tokenizer, domain, mode
        self.scores, self.evidence = scores, evidence
        self.max_new_tokens = max_new_tokens
        self.choice_model = choice_model
        self.name = name
        self.progress = progress  # called with the number of option sets after each predict
        self.scorer = scorer or PrefixScorer(model, batch_size=batch_size, use_cache=use_cache)
        self.stop_ids = _stop_ids(model, tokenizer)
        self.n_generated = 0
        self.n_parse_failures = 0
        self._first_answers: dict[bytes, tuple[np.ndarray, str | None]] = {}
        self.reset()

    @property
    def parse_failure_rate(self) -> float:
        """The share of generated answers that named no option (generate mode; NaN before)."""
        return self.n_parse_failures / self.n_generated if self.n_generated else float("nan")

    def reset(self, user_weights: np.ndarray | None = None) -> None:
        """Start a new user: an empty conversation (the cached prefix stays for reuse)."""
        self.messages: list[chat.Message] = []
        self.previous: tuple[int, int] | None = None
        self.stated: list[str] = []  # what the model wrote before each round's answer
        self._said: dict[bytes, str | None] = {}  # the statement last made before each set
        self._revealed: list[tuple[np.ndarray, int]] = []  # given mode: (options, choice)

    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        """Append the round to the conversation: the question, the answer (after the
        statement in belief and given modes), then (in the next user turn) the user's
        feedback."""
        x = np.asarray(options, dtype=np.float64)
        self._check_options(x[None])
        said = self._said.get(x.tobytes()) if self.mode in STATED else None
        if self.writes:
            self.stated.append(said or "")
        self.messages += [
            {"role": "user", "content": chat.user_turn(self.domain, x, self.previous)},
            {"role": "assistant", "content": chat.answer(self.domain, int(recommended), said)},
        ]
        self.previous = (int(recommended), int(choice))
        self._revealed.append((x, int(choice)))

    def predict(self, options: np.ndarray) -> np.ndarray:
        """Probabilities over the options: (K, F) -> (K,) or (N, K, F) -> (N, K)."""
        x = np.asarray(options, dtype=np.float64)
        single = x.ndim == 2
        sets = x[None] if single else x
        self._check_options(sets)
        probs = self._first_turn(sets) if not self.messages else self._ask(sets)
        if self.progress is not None:
            self.progress(len(sets))
        return probs[0] if single else probs

    def _ask(self, sets: np.ndarray) -> np.ndarray:
        given = [self._given_now()] * len(sets) if self.mode == "given" else None
        probs, said = self.answer_prompts(self.prompt_texts(sets, answer_prefix=False),
                                          sets.shape[1], given)
        self._said.update(zip((x.tobytes() for x in sets), said, strict=True))
        return probs

    def given_statements(self, rounds: np.ndarray, choices: np.ndarray) -> np.ndarray:
        """The statements given in ``given`` mode to users who chose ``choices`` (U, R) in
        ``rounds`` (U, R, K, F): (U, R+1), index r before round r (and the held-out questions
        asked then), from the choices of rounds 0..r-1 only; with ``evidence`` each after the
        first opened by the evidence of the choice of round r-1."""
        said = revealed_statements(self.domain, rounds, choices, self.choice_model)
        return (with_evidence(self.domain, rounds, choices, said, self.evidence) if self.evidence
                else said)

    def _given_now(self) -> str:
        """The given statement after this user's rounds so far."""
        n = len(self._revealed)
        rounds = (np.stack([x for x, _ in self._revealed]) if self._revealed  # (R, K, F)
                  else np.zeros((0, 2, self.domain.n_features)))  # no round: K is moot
        choices = np.array([c for _, c in self._revealed], dtype=np.int64)
        return str(self.given_statements(rounds[None], choices.reshape(1, n))[0, -1])

    def answer_prompts(self, texts: list[str], k: int, given: list[str] | None = None
                       ) -> tuple[np.ndarray, list[str | None]]:
        """The model's probabilities (N, K) over the K options after each prompt text (ending
        with the generation prompt), and the text before each answer: the statement, the
        model's own in belief mode, ``given`` (one per text, required) in given mode, followed
        with ``scores`` by the model's option scores; None in the other modes."""
        if self.mode == "score":
            prefix = chat.answer_prefix(self.domain)
            return self._score([t + prefix for t in texts], k), [None] * len(texts)
        if self.mode == "generate":
            return self._generate(texts, k), [None] * len(texts)
        if self.mode == "given" and (given is None or len(given) != len(texts)):
            raise ValueError(f"given must hold one statement per prompt in given mode "
                             f"({len(texts)} prompts)")
        if self.mode == "belief":
            said = self._written(texts, k)
        elif self.scores:  # the model scores the options after the given statement
            said = [f"{g} {w}".rstrip() for g, w in zip(given, self._written(
                [t + g for t, g in zip(texts, given, strict=True)], k), strict=True)]
        else:
            said = list(given)
        return self._score([t + chat.answer_prefix(self.domain, s)
                            for t, s in zip(texts, said, strict=True)], k), said

    def _first_turn(self, sets: np.ndarray) -> np.ndarray:
        """Before any round every user is asked the same questions: answer each option set
        once per assistant and reuse the answer (and statement) for later users (the model is
        deterministic)."""
        keys = [options.tobytes() for options in sets]
        fresh = list(dict.fromkeys(k for k in keys if k not in self._first_answers))
        if fresh:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            answers = self._ask(sets[[first[k] for k in fresh]])
            self._first_answers.update(
                (k, (a, self._said.get(k))) for k, a in zip(fresh, answers, strict=True))
        self._said.update((k, self._first_answers[k][1]) for k in keys)
        if self.mode == "generate":  # reused answers count too (_generate counted the fresh)

            def failures(ks: list[bytes]) -> int:  # a failed parse predicts uniformly
                return sum(bool(np.all(self._first_answers[k][0] == 1 / sets.shape[1]))
                           for k in ks)

            self.n_generated += len(keys) - len(fresh)
            self.n_parse_failures += failures(keys) - failures(fresh)
        return np.stack([self._first_answers[k][0] for k in keys])

    def prompt_texts(self, sets: np.ndarray, answer_prefix: bool = True) -> list[str]:
        """The chat-template text of the question about each option set (N, K, F), after the
        conversation so far, ending with the generation prompt (and the answer prefix)."""
        return self.question_texts(self.messages, self.previous, sets, answer_prefix)

    def question_texts(self, messages: list[chat.Message], previous: tuple[int, int] | None,
                       sets: np.ndarray, answer_prefix: bool = False) -> list[str]:
        """The chat-template text of the question about each option set (N, K, F) after the
        conversation ``messages`` whose last round was ``previous`` = (recommended, preferred)."""
        tail = chat.answer_prefix(self.domain) if answer_prefix else ""
        texts = []
        for options in sets:
            turn = {"role": "user", "content": chat.user_turn(self.domain, options, previous)}
            text = self.tokenizer.apply_chat_template(
                [*messages, turn], tokenize=False, add_generation_prompt=True)
            texts.append(text + tail)
        return texts

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def _score(self, texts: list[str], k: int) -> np.ndarray:
        """Next-token probabilities of the K option numbers after texts ending in the answer
        prefix: (N, K)."""
        prompts = self._encode(texts)
        drop, candidates = option_tokens(self.tokenizer, texts[0], prompts[0], k)
        contexts = [p[:len(p) - drop] for p in prompts]
        logits = self.scorer.next_logits(contexts, candidates)
        z = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)

    @property
    def writes(self) -> bool:
        """Whether the model writes text of its own before each answer: its statement
        (belief mode), its option scores (``scores``), or both."""
        return self.mode == "belief" or self.scores

    def _written(self, texts: list[str], k: int) -> list[str]:
        """What the model writes after each prompt before its answer about K options: its
        greedy text up to the answer prefix (the whole text, counted as a failure, when it
        never gets there). The budget of new tokens holds a statement of every feature
        (belief mode), the evidence against K-1 options of up to ``EVIDENCE_TOKENS`` a feature
        (``evidence``, belief mode) and K option scores of up to five tokens a term
        (``scores``); generation stops once the answer prefix is written."""
        f, belief = self.domain.n_features, self.mode == "belief"
        seen = EVIDENCE_TOKENS[self.evidence] if belief and self.evidence else 0
        budget = max(self.max_new_tokens, 16 + 12 * f * belief + (k - 1) * (10 + seen * f)
                     * (seen > 0) + k * (12 + 5 * f) * self.scores)
        written = self.scorer.greedy(self._encode(texts), budget, self.stop_ids,
                                     settled=lambda tokens: STATEMENT_END in self._decode(tokens))
        said = []
        for tokens in written:
            text = self._decode(tokens)
            self.n_generated += 1
            if STATEMENT_END not in text:
                self.n_parse_failures += 1
            said.append(text.split(STATEMENT_END)[0].strip())
        return said

    def _generate(self, texts: list[str], k: int) -> np.ndarray:
        n = len(texts)
        prompts = self._encode(texts)
        answers = self.scorer.greedy(prompts, self.max_new_tokens, self.stop_ids,
                                     settled=lambda tokens: self._settled(tokens, k))
        probs = np.full((n, k), 1.0 / k)
        for i, tokens in enumerate(answers):
            choice = chat.parse_answer(self._decode(tokens), k)
            self.n_generated += 1
            if choice is None:
                self.n_parse_failures += 1
            else:
                probs[i] = np.eye(k)[choice]
        return probs

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def _settled(self, tokens: list[int], k: int) -> bool:
        """Whether the answer so far already names its option for good: it names one and does
        not end in a digit (so no number in it can still grow), hence more text cannot change
        what ``chat.parse_answer`` reads (the first option named)."""
        text = self._decode(tokens)
        return bool(text) and not text[-1].isdigit() and chat.parse_answer(text, k) is not None

    def _check_options(self, sets: np.ndarray) -> None:
        if sets.ndim != 3 or sets.shape[-1] != self.domain.n_features or sets.shape[1] < 2:
            raise ValueError(f"options must be (K, F) or (N, K, F) with K >= 2 and "
                             f"F = {self.domain.n_features} ({self.domain.name}), "
                             f"got shape {sets.shape}")


def option_tokens(
    tokenizer, text: str, tokens: list[int], n_options: int
) -> tuple[int, list[int]]:
    """How to score the option numbers after a prompt ending in the answer prefix.

    Returns (drop, candidates): drop the prompt's last ``drop`` tokens (0, or 1 when the
    tokenizer merges the prefix's trailing space into the number, as GPT-2-style tokenizers
    do) and score the ``candidates`` token ids, one per option. Raises ValueError when an
    option number is not a single token after the prompt.
    """
    full = [tokenizer(text + str(k + 1), add_special_tokens=False)["input_ids"]
            for k in range(n_options)]
    common = common_prefix_length([tokens, *full])
    drop = len(tokens) - common
    if drop > 1 or any(len(f) != common + 1 for f in full):
        raise ValueError(f"the tokenizer does not write each option number 1..{n_options} as "
                         f"one token after the answer prefix; next-token scoring needs that "
                         f"(use --mode generate)")
    candidates = [f[common] for f in full]
    if len(set(candidates)) != n_options:
        raise ValueError("the option numbers share a token after the answer prefix")
    return drop, candidates


def _stop_ids(model, tokenizer) -> list[int]:
    """Token ids that end an answer: the model's end-of-turn/end-of-text ids."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.add(im_end)
    return sorted(i for i in ids if i is not None)

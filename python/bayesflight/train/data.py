"""Teaching dialogues (JSONL) to token ids, with assistant-only labels and answer positions.

Each line is ``{"messages": [{"role", "content"}, ...], "option_probs": [[p_1..p_K], ...]}``
(``option_probs``, one list per assistant turn, is optional for hard targets). The spans that
carry labels are found through the model's own chat template: rendering the conversation up
to an assistant turn with the generation prompt gives where the turn starts; rendering it
through the turn gives where it ends. The labelled tokens are the assistant's content and the
end-of-turn token the template appends; the template's whitespace after that token is not
trained. The answer of each assistant turn is the last number in its text (``The best option
is Flight 2.``): its token position lets a soft target compare the teacher's option
distribution with the model's, and lets the trainer report how well the answer is learned.

Sequences longer than ``max_len`` keep their opening: whole trailing rounds are dropped until
the rest fits, so that the instruction and every kept answer stay in context; a dialogue
whose first answer does not fit is dropped. Both are counted and reported.

Tokenising is two steps: ``encode_dialogues`` renders and tokenises every dialogue whole (the
slow part: chat templates are rendered in Python), and ``fit_dialogues`` applies ``max_len``
(quick). The first depends only on the file and the tokenizer, so its result can be cached
(``tokencache``) and serve runs of any ``max_len``.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import re
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..fileio import check_input_file

_LAST_NUMBER = re.compile(r"(\d+)\D*$")
# The version of the encoding rules below: part of the token cache's key (tokencache.py), so
# raise it whenever a change makes encode_dialogues give other arrays for the same input.
ENCODING = 1


@dataclass(frozen=True)
class Example:
    """One tokenised dialogue. L tokens, A answers, K options per answer."""

    input_ids: np.ndarray  # (L,) int64
    labelled: np.ndarray  # (L,) bool: token t is a training target
    answer_pos: np.ndarray  # (A,) int64: positions of the option-number tokens
    answer: np.ndarray  # (A,) int64: the 0-based option the text names
    option_probs: np.ndarray  # (A, K) float64: the teacher's distribution; (0, 0) if absent

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class TokenizedData:
    """The examples of one file, the option-number token ids, and what truncation did."""

    examples: list[Example]
    option_ids: np.ndarray | None  # (K,) token ids of "1".."K"; None without option_probs
    record_index: list[int] = field(default_factory=list)  # each example's index in records
    n_lines: int = 0
    n_skipped: int = 0  # lines without an assistant turn
    n_truncated: int = 0  # dialogues that lost trailing rounds to max_len
    n_dropped: int = 0  # dialogues whose first answer does not fit max_len
    n_turns_dropped: int = 0  # assistant turns lost to truncation, dropped dialogues included
    notes: list[str] = field(default_factory=list)

    @property
    def lengths(self) -> np.ndarray:
        """Token count of each example: (N,)."""
        return np.array([len(e) for e in self.examples], dtype=np.int64)


@dataclass(frozen=True)
class DialogueFile:
    """The records of a data file and the SHA-256 of the very bytes they were parsed from (so
    that a file rewritten while a run starts cannot pass its new hash off as the records')."""

    records: list[dict[str, Any]]
    sha256: str


def read_dialogues(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a JSONL file, with ``messages`` and ``option_probs`` checked."""
    return read_dialogue_file(path).records


def read_dialogue_file(path: str | os.PathLike) -> DialogueFile:
    """``read_dialogues`` and the SHA-256 of the bytes read, from one read of the file."""
    path = check_input_file(path, "data file", "a JSONL file of dialogues")
    raw = path.read_bytes()
    records = []
    with io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8") as handle:  # lines as open() has them
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {lineno}: not valid JSON ({err.msg})") from None
            _check_record(record, f"{path} line {lineno}")
            records.append(record)
    if not records:
        raise ValueError(f"data file {path} holds no dialogues")
    has_probs = {"option_probs" in r for r in records}
    if len(has_probs) > 1:
        raise ValueError(f"data file {path}: some lines have option_probs and some do not")
    return DialogueFile(records, hashlib.sha256(raw).hexdigest())


def _check_record(record: Any, where: str) -> None:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise ValueError(f"{where}: expected an object with a 'messages' list")
    for m in record["messages"]:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str)):
            raise ValueError(f"{where}: each message needs string 'role' and 'content'")
    if "option_probs" not in record:
        return
    n_turns = sum(m["role"] == "assistant" for m in record["messages"])
    probs = record["option_probs"]
    try:
        p = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: option_probs must be a list of equal-length lists") from None
    if p.ndim != 2 or p.shape[0] != n_turns or p.shape[1] < 2:
        raise ValueError(f"{where}: option_probs must have one list of >= 2 probabilities per "
                         f"assistant turn ({n_turns}); got shape {p.shape}")
    if not (np.all(np.isfinite(p)) and np.all(p >= 0) and np.allclose(p.sum(1), 1, atol=1e-6)):
        raise ValueError(f"{where}: each option_probs list must be non-negative and sum to 1")


def record_stages(records: list[dict[str, Any]], key: str,
                  source: str) -> tuple[tuple[str, ...], np.ndarray]:
    """The stages of a curriculum: the names, in file order, of the consecutive runs of lines
    with one value of ``key`` (e.g. ``domain``), and each record's stage number (N,).

    Every line must hold ``key`` as a string, and each value must form one run: a file that
    comes back to a stage it left cannot say which order was meant (ValueError naming it).
    """
    names: list[str] = []
    numbers = np.empty(len(records), dtype=np.int64)
    for i, record in enumerate(records):
        value = record.get(key)
        if not isinstance(value, str):
            raise ValueError(f"{source} line {i + 1}: stage_key {key!r} needs a string "
                             f"'{key}' in every line, got {value!r}")
        if not names or names[-1] != value:
            if value in names:
                raise ValueError(f"{source} line {i + 1}: stage_key {key!r}: the lines of "
                                 f"{value!r} must be consecutive (stages come in file order)")
            names.append(value)
        numbers[i] = len(names) - 1
    return tuple(names), numbers


def require_answers(records: list[dict[str, Any]], need_answers: bool, source: str) -> None:
    """Refuse records without ``option_probs`` when the loss needs the answers'
    distributions (soft target or digit-only loss); read_dialogues made them all alike."""
    if need_answers and "option_probs" not in records[0]:
        raise ValueError(f"{source}: the soft target and the digit-only loss need "
                         f"'option_probs' in every line")


def tokenize_dialogues(
    records: list[dict[str, Any]],
    tokenizer: Any,
    max_len: int,
    need_answers: bool = False,
    source: str = "data",
    workers: int = 0,
) -> TokenizedData:
    """Tokenise ``records`` with the tokenizer's chat template; warn about what max_len cut.

    ``need_answers``: the answers' option distributions are required (soft target or
    digit-only loss), so records without ``option_probs`` raise ValueError. ``workers``
    processes share the rendering and tokenising (0: one per CPU core for large files, none
    for small ones); the result does not depend on it.
    """
    return fit_dialogues(encode_dialogues(records, tokenizer, need_answers, source, workers),
                         max_len, source)


@dataclass(frozen=True)
class Encoded:
    """A whole dialogue before truncation, and where each assistant turn ends in tokens."""

    example: Example
    turn_end: np.ndarray  # (T,) token count through each assistant turn (template included)


@dataclass(frozen=True)
class Encodings:
    """Every line of a file tokenised whole, before ``max_len``: the costly part of
    tokenising, which depends only on the file and the tokenizer (so it can be cached), and
    from which ``fit_dialogues`` makes the examples of any ``max_len`` quickly."""

    dialogues: list[Encoded | None]  # one per line; None for a line without an assistant turn
    option_ids: np.ndarray | None  # (K,) token ids of "1".."K"; None without option_probs


def encode_dialogues(
    records: list[dict[str, Any]],
    tokenizer: Any,
    need_answers: bool = False,
    source: str = "data",
    workers: int = 0,
) -> Encodings:
    """Render and tokenise every record whole (``tokenize_dialogues`` without max_len)."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("tokenizer must be a fast (Rust) tokenizer: labels need offset mappings")
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template; cannot render dialogues")
    require_answers(records, need_answers, source)
    with_probs = "option_probs" in records[0]
    dialogues: list[Encoded | None] = []
    option_ids = None
    for i, item in enumerate(_encode_all(records, tokenizer, with_probs, source, workers)):
        if item is not None and with_probs:
            where = f"{source} line {i + 1}"
            if option_ids is None:
                option_ids = _option_ids(tokenizer, *item[1], where)
            _check_width(item[0].example, len(option_ids), where)
        dialogues.append(None if item is None else item[0])
    if all(d is None for d in dialogues):
        raise ValueError(f"{source}: no line has an assistant turn; nothing to train on")
    return Encodings(dialogues, option_ids)


def fit_dialogues(encodings: Encodings, max_len: int, source: str = "data") -> TokenizedData:
    """The examples of ``encodings`` cut to ``max_len`` (whole trailing rounds dropped), the
    answers checked against the option ids, and warnings about what was cut."""
    data = TokenizedData(examples=[], option_ids=encodings.option_ids,
                         n_lines=len(encodings.dialogues))
    for i, encoded in enumerate(encodings.dialogues):
        if encoded is None:
            data.n_skipped += 1
            continue
        kept = _truncate(encoded, max_len, data)
        if kept is not None:
            if data.option_ids is not None:
                _check_answers(kept, data.option_ids, f"{source} line {i + 1}")
            data.examples.append(kept)
            data.record_index.append(i)
    _report(data, max_len, source)
    return data


_PER_WORKER = 512  # fewest dialogues worth a worker process
# An encoded dialogue and its context for the option ids: (text before the first answer
# number, K), or ("", 0) without option_probs.
_Item = tuple[Encoded, tuple[str, int]]
_worker_state: tuple[Any, bool, str] | None = None  # (tokenizer, with_probs, source) in workers


def _encode_all(records: list[dict[str, Any]], tokenizer: Any, with_probs: bool, source: str,
                workers: int) -> list[_Item | None]:
    """``_encode`` of every record (None for one without an assistant turn), in order; in
    forked worker processes when there are enough records (rendering chat templates is
    pure Python: one core renders about 400 dialogues a second)."""
    if workers <= 0:
        workers = min(os.cpu_count() or 1, len(records) // _PER_WORKER)
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [_encode_or_skip(tokenizer, with_probs, source, i, r)
                for i, r in enumerate(records)]
    global _worker_state
    _worker_state = (tokenizer, with_probs, source)  # inherited by the forked workers
    try:
        size = -(-len(records) // workers)
        pieces = [(start, records[start:start + size]) for start in range(0, len(records), size)]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return [e for part in pool.map(_encode_piece, pieces) for e in part]
    finally:
        _worker_state = None


def _encode_piece(piece: tuple[int, list[dict[str, Any]]]) -> list[_Item | None]:
    assert _worker_state is not None
    tokenizer, with_probs, source = _worker_state
    start, records = piece
    return [_encode_or_skip(tokenizer, with_probs, source, start + i, r)
            for i, r in enumerate(records)]


def _encode_or_skip(tokenizer: Any, with_probs: bool, source: str, index: int,
                    record: dict[str, Any]) -> _Item | None:
    if not any(m["role"] == "assistant" for m in record["messages"]):
        return None
    return _encode(record, tokenizer, with_probs, f"{source} line {index + 1}")


def _render(tokenizer: Any, messages: list[dict[str, str]], generation: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=generation)


def _encode(record: dict[str, Any], tokenizer: Any, with_probs: bool, where: str) -> _Item:
    messages = record["messages"]
    full = _render(tokenizer, messages)
    spans, ends, digits, answers = [], [], [], []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        head, through = _render(tokenizer, messages[:i], True), _render(tokenizer, messages[:i + 1])
        if not (through.startswith(head) and full.startswith(through)):
            raise ValueError("the model's chat template does not render conversations "
                             "incrementally, so assistant turns cannot be located in it")
        start, end = len(head), len(through.rstrip())
        spans.append((start, end))
        ends.append(len(through))
        if with_probs:
            content = m["content"].strip()
            at = full.find(content, start, end)
            match = _LAST_NUMBER.search(content)
            if at < 0 or match is None:
                raise ValueError(f"{where}: assistant turn {len(spans)} ({m['content']!r}) "
                                 f"does not end with an option number")
            digits.append((at + match.start(1), at + match.end(1)))
            answers.append(int(match.group(1)) - 1)
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = np.asarray(enc["input_ids"], dtype=np.int64)
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    starts = offsets[:, 0]
    labelled = np.zeros(len(ids), dtype=bool)
    for start, end in spans:
        labelled |= (starts >= start) & (starts < end)
    turn_end = np.searchsorted(starts, ends, side="left")
    probs = np.asarray(record.get("option_probs", np.zeros((0, 0))), dtype=np.float64)
    k = probs.shape[1] if with_probs else 0
    if with_probs and not all(0 <= a < k for a in answers):
        raise ValueError(f"{where}: an answer names an option outside 1..{k}")
    answer_pos = np.array([_single_token(offsets, s, e, where) for s, e in digits],
                          dtype=np.int64)
    example = Example(ids, labelled, answer_pos, np.array(answers, dtype=np.int64), probs)
    context = (full[:digits[0][0]], k) if with_probs else ("", 0)
    return Encoded(example, turn_end), context


def _single_token(offsets: np.ndarray, start: int, end: int, where: str) -> int:
    hit = np.flatnonzero((offsets[:, 0] == start) & (offsets[:, 1] == end))
    if len(hit) != 1:
        raise ValueError(f"{where}: the option number at characters {start}..{end} is not one "
                         f"token of this tokenizer; option scoring needs single-token numbers")
    return int(hit[0])


def _option_ids(tokenizer: Any, context: str, k: int, where: str) -> np.ndarray:
    """Token ids of the numbers 1..k right after ``context`` (each must be a single token)."""
    ids = []
    for n in range(1, k + 1):
        enc = tokenizer(context + str(n), add_special_tokens=False, return_offsets_mapping=True)
        offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        ids.append(enc["input_ids"][_single_token(offsets, len(context),
                                                  len(context) + len(str(n)), where)])
    if len(set(ids)) != k:
        raise ValueError(f"{where}: the option numbers 1..{k} do not map to distinct tokens")
    return np.array(ids, dtype=np.int64)


def _check_width(example: Example, k: int, where: str) -> None:
    """Every dialogue of a file offers as many options as the first (checked before the
    encodings are cached: a cache of mixed widths cannot be stored)."""
    if example.option_probs.shape[1] != k:
        raise ValueError(f"{where}: {example.option_probs.shape[1]} options per turn, but the "
                         f"first dialogue has {k}; all dialogues must have the same number")


def _check_answers(example: Example, option_ids: np.ndarray, where: str) -> None:
    k = len(option_ids)
    _check_width(example, k, where)
    if not np.array_equal(example.input_ids[example.answer_pos], option_ids[example.answer]):
        raise ValueError(f"{where}: the option numbers tokenise differently from the first "
                         f"dialogue's")


def _truncate(encoded: Encoded, max_len: int, data: TokenizedData) -> Example | None:
    """The dialogue through its last assistant turn that ends within ``max_len`` tokens."""
    ex, ends = encoded.example, encoded.turn_end
    n_turns = int(np.sum(ends <= max_len))
    data.n_turns_dropped += len(ends) - n_turns
    if n_turns == 0:
        data.n_dropped += 1
        return None
    if n_turns < len(ends):
        data.n_truncated += 1
    length = int(ends[n_turns - 1])
    a = n_turns if len(ex.answer_pos) else 0  # answers exist for every turn or for none
    return Example(ex.input_ids[:length], ex.labelled[:length], ex.answer_pos[:a],
                   ex.answer[:a], ex.option_probs[:a])


def _report(data: TokenizedData, max_len: int, source: str) -> None:
    """Warn about skipped, truncated and dropped dialogues (and keep the texts in ``notes``)."""
    if data.n_skipped:
        data.notes.append(f"{source}: skipped {data.n_skipped} of {data.n_lines} lines that "
                          f"have no assistant turn")
    if data.n_truncated or data.n_dropped:
        data.notes.append(
            f"{source}: {data.n_truncated} dialogues longer than max_len={max_len} tokens kept "
            f"their opening rounds only and {data.n_dropped} were dropped because their first "
            f"answer does not fit ({data.n_turns_dropped} assistant turns lost)"
        )
    for note in data.notes:
        warnings.warn(note, stacklevel=3)
    if not data.examples:
        raise ValueError(f"{source}: no dialogue fits max_len={max_len} tokens")


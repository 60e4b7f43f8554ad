"""Tokenise a data file once: the encoded dialogues are kept in a hidden file beside it and
reused while the file and the tokenizer are unchanged.

Rendering chat templates is pure Python and costs about 2.5 ms a dialogue per core, so a run
on 10,000 dialogues spends seconds tokenising before its first step, and ``reproduce`` pays
it again for every variant trained on the same file. What is cached is ``encode_dialogues``'
result, before ``max_len`` is applied, so a run with another ``max_len`` (or another target,
loss or model size on the same tokenizer) reuses it too.

Where: beside the data file, as ``.NAME.TOKENIZER.tokens.npz`` (``TOKENIZER``: 16 hex digits
of the key below). The cache lives and dies with its data (deleting a reproduction's folder
deletes its caches; nothing grows unseen in a home directory), and there is one per data file
and tokenizer: a rewritten data file overwrites its stale cache instead of adding another.
Where the data's folder cannot be written, the run tokenises as before and says why once.

Key: the tokenizer's identity is its class, the SHA-256 of its whole Rust tokenizer (vocab,
merges, normalizer, added tokens), its chat template and special tokens, the versions of
transformers, tokenizers and jinja2 (which render the template) and ``data.ENCODING``
(bayesflight's own encoding rules); it names the file. The data's identity is the SHA-256
of its bytes, stored inside. A file is trusted only if it opens, its key and digest match
and its arrays fit together; anything else is rebuilt, never used. Writes are atomic
(``fileio.atomic_open``): a killed write leaves no cache, only a temporary that the next
write removes.

Format: one uncompressed ``.npz`` (zip, each array CRC-checked on reading): the token ids,
labels and per-turn arrays of all dialogues concatenated, with offsets; loading is one read
and the examples are views into it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_open, check_input_file, sha256_file
from .data import (
    ENCODING,
    Encoded,
    Encodings,
    Example,
    TokenizedData,
    encode_dialogues,
    fit_dialogues,
    require_answers,
)

FORMAT = 1  # of the file below; a different one is rebuilt
_SUFFIX = ".tokens.npz"
_RENDERERS = ("transformers", "tokenizers", "jinja2")


def tokenize_file(records: list[dict[str, Any]], tokenizer: Any, data_path: str | os.PathLike,
                  max_len: int, need_answers: bool = False, cache: bool = True,
                  write: bool = True, data_sha256: str | None = None) -> TokenizedData:
    """``tokenize_dialogues`` of the records read from ``data_path``, through the cache.

    ``cache=False`` tokenises afresh and neither reads nor writes a cache; ``write=False``
    reads a cache but does not write one (the other processes of a distributed run, so that
    only one writes). ``data_sha256``: the hash of the bytes ``records`` were parsed from
    (``read_dialogue_file``), which keys the cache; by default the file is hashed now.
    """
    source = str(data_path)
    require_answers(records, need_answers, source)
    if not cache:
        return fit_dialogues(encode_dialogues(records, tokenizer, need_answers, source),
                             max_len, source)
    path = check_input_file(data_path, "data file", "a JSONL file of dialogues")
    identity = tokenizer_identity(tokenizer)
    if data_sha256 is None:
        data_sha256 = sha256_file(path)
    target = cache_path(path, identity)
    encodings, problem = load_encodings(target, identity, data_sha256)
    if encodings is None:
        if problem is not None:
            warnings.warn(f"token cache {target} is not used ({problem}); tokenising "
                          f"{source} again", stacklevel=2)
        encodings = encode_dialogues(records, tokenizer, need_answers, source)
        if write:
            try:
                save_encodings(target, encodings, identity, data_sha256)
            except OSError as err:
                warnings.warn(f"token cache {target} could not be written ({err}); the "
                              f"next run tokenises {source} again", stacklevel=2)
    return fit_dialogues(encodings, max_len, source)


def tokenizer_identity(tokenizer: Any) -> str:
    """The hex SHA-256 of everything about ``tokenizer`` that changes ``encode_dialogues``."""
    backend = tokenizer.backend_tokenizer.to_str()
    parts = {
        "format": FORMAT,
        "encoding": ENCODING,
        "class": type(tokenizer).__name__,
        "backend_sha256": hashlib.sha256(backend.encode("utf-8")).hexdigest(),
        "chat_template": tokenizer.chat_template,
        "special_tokens": tokenizer.special_tokens_map,
        "versions": {name: _version(name) for name in _RENDERERS},
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_path(data_path: str | os.PathLike, identity: str) -> Path:
    """The cache file beside the data file ``NAME``: ``.NAME.<the first 16 hex digits of
    identity>.tokens.npz``."""
    data_path = Path(data_path)
    return data_path.with_name(f".{data_path.name}.{identity[:16]}{_SUFFIX}")


def save_encodings(path: Path, encodings: Encodings, identity: str, data_sha256: str) -> None:
    """Write ``encodings`` to ``path`` atomically, under the tokenizer and data identities."""
    present = [d for d in encodings.dialogues if d is not None]
    examples = [d.example for d in present]
    ids = np.concatenate([e.input_ids for e in examples])
    k = examples[0].option_probs.shape[1]  # 0 without option_probs: every example is (0, 0)
    meta = {"format": FORMAT, "tokenizer": identity, "data_sha256": data_sha256,
            "n_lines": len(encodings.dialogues), "ids_dtype": _ids_dtype(ids).str}
    arrays = {
        "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
        "present": np.array([d is not None for d in encodings.dialogues], dtype=bool),
        "ids": ids.astype(_ids_dtype(ids)),
        "labelled": np.concatenate([e.labelled for e in examples]),
        "token_offsets": _offsets([len(e.input_ids) for e in examples]),
        "turn_end": np.concatenate([d.turn_end for d in present]).astype(np.int64),
        "turn_offsets": _offsets([len(d.turn_end) for d in present]),
        "answer_pos": np.concatenate([e.answer_pos for e in examples]),
        "answer": np.concatenate([e.answer for e in examples]),
        "answer_offsets": _offsets([len(e.answer_pos) for e in examples]),
        "option_probs": (np.concatenate([e.option_probs for e in examples]) if k
                         else np.zeros((0, 0))),
        "option_ids": (np.zeros(0, dtype=np.int64) if encodings.option_ids is None
                       else encodings.option_ids),
    }
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_encodings(path: Path, identity: str,
                   data_sha256: str) -> tuple[Encodings | None, str | None]:
    """(the cached encodings, None) if ``path`` holds them for this tokenizer and data;
    (None, None) if there is no cache; (None, why) if the file cannot be trusted."""
    if not path.exists():
        return None, None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        if meta.get("format") != FORMAT or meta.get("tokenizer") != identity:
            return None, "written under another format or tokenizer identity"
        if meta.get("data_sha256") != data_sha256:
            return None, "the data file has changed since it was written"
        return _encodings(arrays, int(meta["n_lines"])), None
    except (OSError, ValueError, KeyError, IndexError, TypeError, EOFError,
            zipfile.BadZipFile) as err:
        return None, f"damaged: {type(err).__name__}: {err}"


def _encodings(arrays: dict[str, np.ndarray], n_lines: int) -> Encodings:
    """The Encodings of a loaded file; ValueError where its arrays do not fit together."""
    present = arrays["present"]
    tokens, turns, answers = (arrays[f"{name}_offsets"] for name in ("token", "turn", "answer"))
    ids, labelled = arrays["ids"].astype(np.int64), arrays["labelled"]
    turn_end, answer_pos, answer = arrays["turn_end"], arrays["answer_pos"], arrays["answer"]
    probs = arrays["option_probs"]
    with_probs = probs.shape[1] > 0
    sizes = {"present": (len(present), n_lines), "ids": (len(ids), tokens[-1]),
             "labelled": (len(labelled), tokens[-1]), "turn_end": (len(turn_end), turns[-1]),
             "answer_pos": (len(answer_pos), answers[-1]), "answer": (len(answer), answers[-1]),
             "option_probs": (len(probs), answers[-1] if with_probs else 0)}
    bad = [name for name, (got, want) in sizes.items() if got != want]
    n = int(present.sum())
    if bad or present.dtype != bool or any(len(o) != n + 1 or o[0] != 0
                                           or np.any(np.diff(o) < 0)
                                           for o in (tokens, turns, answers)):
        raise ValueError(f"arrays that do not fit together ({', '.join(bad) or 'offsets'})")
    dialogues: list[Encoded | None] = [None] * n_lines
    t, u, a = tokens.tolist(), turns.tolist(), answers.tolist()
    for j, line in enumerate(np.flatnonzero(present).tolist()):
        tokens_j, answers_j = slice(t[j], t[j + 1]), slice(a[j], a[j + 1])
        example = Example(ids[tokens_j], labelled[tokens_j], answer_pos[answers_j],
                          answer[answers_j], probs[answers_j] if with_probs else probs)
        dialogues[line] = Encoded(example, turn_end[u[j]:u[j + 1]])
    option_ids = arrays["option_ids"] if len(arrays["option_ids"]) else None
    return Encodings(dialogues, option_ids)


def _offsets(sizes: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)


def _ids_dtype(ids: np.ndarray) -> np.dtype:
    """int32 where every id fits (any real vocabulary): half the file of int64."""
    fits = not len(ids) or (ids.min() >= 0 and ids.max() < np.iinfo(np.int32).max)
    return np.dtype(np.int32 if fits else np.int64)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"

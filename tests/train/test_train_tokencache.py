"""The token cache: a hit gives exactly the freshly tokenised examples; a changed file,
tokenizer or template misses; a damaged file is rebuilt, never trusted; writes are atomic."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from bayesflight.train import tokencache
from bayesflight.train.data import read_dialogues, tokenize_dialogues
from bayesflight.train.tokencache import cache_path, tokenize_file, tokenizer_identity
from tiny_models import CHATML_TEMPLATE, make_tokenizer
from train_dialogues import bayesian_records, write_jsonl

FIELDS = ("input_ids", "labelled", "answer_pos", "answer", "option_probs")


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


@pytest.fixture
def data_file(tmp_path):
    return write_jsonl(tmp_path / "data.jsonl", bayesian_records(10, seed=5, rounds=(1, 5)))


def assert_same(a, b):
    """Every field of every example identical (values and dtypes), and the same counts."""
    assert len(a.examples) == len(b.examples)
    for x, y in zip(a.examples, b.examples, strict=True):
        for name in FIELDS:
            u, v = getattr(x, name), getattr(y, name)
            assert u.dtype == v.dtype and u.shape == v.shape, name
            np.testing.assert_array_equal(u, v, err_msg=name)
    np.testing.assert_array_equal(a.option_ids, b.option_ids)
    assert (a.n_lines, a.n_skipped, a.n_truncated, a.n_dropped, a.n_turns_dropped, a.notes) == (
        b.n_lines, b.n_skipped, b.n_truncated, b.n_dropped, b.n_turns_dropped, b.notes)


def cached(path, tokenizer, max_len=4096, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncation notes; compared through .notes
        return tokenize_file(read_dialogues(path), tokenizer, path, max_len, **kwargs)


def fresh(path, tokenizer, max_len=4096):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tokenize_dialogues(read_dialogues(path), tokenizer, max_len, source=str(path))


@pytest.fixture
def no_encoding(monkeypatch):
    """Make tokenising afresh fail, so that a result can only have come from the cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("tokenised afresh instead of reading the cache")

    return lambda: monkeypatch.setattr(tokencache, "encode_dialogues", refuse)


@pytest.mark.parametrize("max_len", [4096, 700, 241])
def test_a_hit_gives_exactly_the_fresh_examples_for_any_max_len(data_file, tokenizer,
                                                                no_encoding, max_len):
    first = cached(data_file, tokenizer, max_len=4096)
    assert cache_path(data_file, tokenizer_identity(tokenizer)).is_file()
    no_encoding()
    hit = cached(data_file, tokenizer, max_len=max_len)
    assert_same(hit, fresh(data_file, tokenizer, max_len))
    assert_same(first, fresh(data_file, tokenizer, 4096))
    if max_len == 241:
        assert hit.n_truncated and hit.n_dropped  # the cut is made after the cache


def test_dialogues_without_option_probs_and_skipped_lines_round_trip(tmp_path, tokenizer,
                                                                     no_encoding):
    records = [{"messages": r["messages"]} for r in bayesian_records(4, seed=1, rounds=(2, 3))]
    records.insert(2, {"messages": [{"role": "user", "content": "hi"}]})  # skipped
    path = write_jsonl(tmp_path / "plain.jsonl", records)
    cached(path, tokenizer)
    no_encoding()
    hit = cached(path, tokenizer)
    assert hit.option_ids is None and hit.n_skipped == 1
    assert_same(hit, fresh(path, tokenizer))


def test_a_changed_data_file_misses_and_overwrites_its_cache(data_file, tokenizer):
    cached(data_file, tokenizer)
    records = [json.loads(line) for line in data_file.read_text().splitlines()]
    write_jsonl(data_file, records[:-2] + bayesian_records(2, seed=99))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = tokenize_file(read_dialogues(data_file), tokenizer, data_file, 4096)
    assert any("the data file has changed" in str(w.message) for w in caught)
    assert_same(again, fresh(data_file, tokenizer))
    assert len(list(data_file.parent.glob(".data.jsonl.*.tokens.npz"))) == 1


def test_another_chat_template_or_tokenizer_is_another_cache(data_file, tokenizer):
    other = make_tokenizer()
    other.chat_template = "{{ 'Flights.\\n' }}" + CHATML_TEMPLATE  # renders other text
    identities = {tokenizer_identity(t) for t in (tokenizer, other, make_tokenizer(vocab_size=300))}
    assert len(identities) == 3
    assert tokenizer_identity(make_tokenizer()) == tokenizer_identity(tokenizer)
    cached(data_file, tokenizer)
    theirs = cached(data_file, other)
    assert_same(theirs, fresh(data_file, other))
    assert len(theirs.examples[0]) > len(fresh(data_file, tokenizer).examples[0])


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "directory"])
def test_a_damaged_cache_is_rebuilt_never_trusted(data_file, tokenizer, damage):
    cached(data_file, tokenizer)
    path = cache_path(data_file, tokenizer_identity(tokenizer))
    blob = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(blob[:len(blob) // 2])
    elif damage == "flip":  # one byte in the middle of the token ids (CRC-checked)
        at = blob.index(b"ids.npy") + 400
        path.write_bytes(blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1:])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file")
    else:
        path.unlink()
        path.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = tokenize_file(read_dialogues(data_file), tokenizer, data_file, 4096)
    assert any("is not used (damaged" in str(w.message) for w in caught)
    assert_same(again, fresh(data_file, tokenizer))
    if damage != "directory":  # rebuilt: the next run hits
        encodings, problem = tokencache.load_encodings(
            path, tokenizer_identity(tokenizer), tokencache.sha256_file(data_file))
        assert encodings is not None and problem is None
    else:
        assert any("could not be written" in str(w.message) for w in caught)


def test_a_failed_write_leaves_no_file_behind(data_file, tokenizer, monkeypatch):
    def die(handle, **arrays):
        handle.write(b"PK half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(tokencache.np, "savez", die)
    with pytest.warns(UserWarning, match="could not be written"):
        result = tokenize_file(read_dialogues(data_file), tokenizer, data_file, 4096)
    assert_same(result, fresh(data_file, tokenizer))
    assert sorted(p.name for p in data_file.parent.iterdir()) == ["data.jsonl"]


def test_off_or_read_only_writes_nothing(data_file, tokenizer):
    assert_same(cached(data_file, tokenizer, cache=False), fresh(data_file, tokenizer))
    assert_same(cached(data_file, tokenizer, write=False), fresh(data_file, tokenizer))
    assert sorted(p.name for p in data_file.parent.iterdir()) == ["data.jsonl"]


def test_a_file_rewritten_while_a_run_starts_keeps_its_old_tokens_out(data_file, tokenizer):
    from bayesflight.train.data import read_dialogue_file

    before = read_dialogue_file(data_file)  # the run reads the file, then loads its model...
    write_jsonl(data_file, bayesian_records(10, seed=6, rounds=(1, 5)))  # ...meanwhile rewritten
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenize_file(before.records, tokenizer, data_file, 4096, data_sha256=before.sha256)
    assert_same(cached(data_file, tokenizer), fresh(data_file, tokenizer))  # not the old tokens


def test_mixed_option_counts_are_refused_by_line_with_the_cache_on(tmp_path, tokenizer):
    three = bayesian_records(3, seed=1, rounds=(2,))
    four = bayesian_records(1, seed=2, rounds=(2,))
    four[0]["option_probs"] = [p + [0.0] for p in four[0]["option_probs"]]
    path = write_jsonl(tmp_path / "mixed.jsonl", three + four)
    with pytest.raises(ValueError, match="line 4: 4 options per turn, but the first dialogue "
                                         "has 3"):
        cached(path, tokenizer)
    assert not list(tmp_path.glob(".*.tokens.npz"))

"""Tokenising dialogues: the tokens that carry labels, answer positions, truncation, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bayesflight import chat
from bayesflight.domains import HOTEL
from bayesflight.train.data import read_dialogues, record_stages, tokenize_dialogues
from tiny_models import CHATML_TEMPLATE, make_tokenizer
from train_dialogues import bayesian_records, write_jsonl


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def _n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_labels_are_exactly_the_assistant_turns_and_their_end_token(tokenizer):
    record = bayesian_records(1, seed=3, rounds=(3,))[0]
    data = tokenize_dialogues([record], tokenizer, max_len=4096)
    ex = data.examples[0]
    messages = record["messages"]
    # Independently: the turn starts after the generation prompt and ends with <|im_end|>.
    expected = np.zeros(len(ex), dtype=bool)
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            head = tokenizer.apply_chat_template(messages[:i], tokenize=False,
                                                 add_generation_prompt=True)
            start = _n_tokens(tokenizer, head)
            expected[start:start + _n_tokens(tokenizer, m["content"] + "<|im_end|>")] = True
    np.testing.assert_array_equal(ex.labelled, expected)
    runs = np.split(np.flatnonzero(ex.labelled),
                    np.flatnonzero(np.diff(np.flatnonzero(ex.labelled)) > 1) + 1)
    assert [tokenizer.decode(ex.input_ids[r]) for r in runs] == [
        m["content"] + "<|im_end|>" for m in messages if m["role"] == "assistant"]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    np.testing.assert_array_equal(ex.input_ids, tokenizer(full, add_special_tokens=False)[
        "input_ids"])


def test_answer_positions_name_the_options_and_carry_the_teacher_distribution(tokenizer):
    records = bayesian_records(4, seed=1, rounds=(2, 4))
    data = tokenize_dialogues(records, tokenizer, max_len=4096)
    assert tokenizer.convert_ids_to_tokens(data.option_ids.tolist()) == ["1", "2", "3"]
    for ex, record in zip(data.examples, records, strict=True):
        answers = [chat.parse_answer(m["content"], 3) for m in record["messages"]
                   if m["role"] == "assistant"]
        np.testing.assert_array_equal(ex.answer, answers)
        np.testing.assert_array_equal(ex.input_ids[ex.answer_pos], data.option_ids[answers])
        assert ex.labelled[ex.answer_pos].all()
        np.testing.assert_array_equal(ex.option_probs, record["option_probs"])


def test_hotel_dialogues_tokenise_too(tokenizer):
    data = tokenize_dialogues(bayesian_records(2, domain=HOTEL), tokenizer, max_len=4096)
    assert tokenizer.decode(data.examples[0].input_ids[data.examples[0].answer_pos[:1]]) in "123"


def test_long_dialogues_keep_their_opening_rounds_and_are_counted(tokenizer):
    records = bayesian_records(3, seed=2, rounds=(5,))
    full = tokenize_dialogues(records, tokenizer, max_len=100_000).examples
    ends = [int(np.flatnonzero(e.labelled)[-1]) + 2 for e in full]  # through <|im_end|>\n
    # Room for exactly three answers of the first dialogue.
    limit = int(full[0].answer_pos[2]) + 4
    with pytest.warns(UserWarning, match="kept their opening rounds"):
        data = tokenize_dialogues(records, tokenizer, max_len=limit)
    ex = data.examples[0]
    assert len(ex) <= limit and len(ex.answer) == 3 and ex.option_probs.shape == (3, 3)
    np.testing.assert_array_equal(ex.input_ids, full[0].input_ids[:len(ex)])
    assert tokenizer.decode(ex.input_ids[-3:]).startswith(".<|im_end|>")
    assert data.n_truncated == 3 and data.n_dropped == 0 and max(ends) > limit
    with pytest.warns(UserWarning, match="3 were dropped"):
        with pytest.raises(ValueError, match="no dialogue fits max_len=50"):
            tokenize_dialogues(records, tokenizer, max_len=50)


def test_lines_without_assistant_turns_are_skipped_and_a_file_of_them_is_refused(tokenizer):
    records = bayesian_records(2)
    user_only = {"idx": 9, "messages": records[0]["messages"][:1], "option_probs": []}
    with pytest.warns(UserWarning, match="skipped 1 of 3 lines"):
        data = tokenize_dialogues([*records, user_only], tokenizer, max_len=4096)
    assert len(data.examples) == 2 and data.n_skipped == 1
    with pytest.raises(ValueError, match="no line has an assistant turn"):
        tokenize_dialogues([user_only], tokenizer, max_len=4096)


def test_soft_targets_need_option_probs_and_single_token_numbers(tokenizer):
    plain = [{"messages": r["messages"]} for r in bayesian_records(2)]
    assert len(tokenize_dialogues(plain, tokenizer, 4096).examples) == 2
    with pytest.raises(ValueError, match="need 'option_probs'"):
        tokenize_dialogues(plain, tokenizer, 4096, need_answers=True)
    merged = make_tokenizer(split_digits=False)
    assert len(merged(" 2", add_special_tokens=False)["input_ids"]) == 1
    with pytest.raises(ValueError, match="not one token"):
        tokenize_dialogues(bayesian_records(2), merged, 4096)


def test_a_template_that_does_not_render_incrementally_is_refused(tokenizer):
    tokenizer = make_tokenizer()
    tokenizer.chat_template = "{{ messages | length }} turns\n" + CHATML_TEMPLATE
    with pytest.raises(ValueError, match="does not render conversations incrementally"):
        tokenize_dialogues(bayesian_records(1), tokenizer, 4096)
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        tokenize_dialogues(bayesian_records(1), tokenizer, 4096)


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "line 2: not valid JSON"),
    ('{"messages": "hi"}', "'messages' list"),
    ('{"messages": [{"role": "user"}]}', "string 'role' and 'content'"),
    ('{"messages": [{"role": "assistant", "content": "1"}], "option_probs": [[0.5, 0.6]]}',
     "sum to 1"),
    ('{"messages": [{"role": "assistant", "content": "1"}], "option_probs": []}',
     "one list of >= 2 probabilities per assistant turn"),
])
def test_malformed_lines_name_the_line_and_the_problem(tmp_path, line, message):
    good = json.dumps(bayesian_records(1)[0])
    path = tmp_path / "d.jsonl"
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_dialogues(path)


def test_missing_empty_and_mixed_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_dialogues(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no dialogues"):
        read_dialogues(tmp_path / "empty.jsonl")
    records = bayesian_records(2)
    del records[1]["option_probs"]
    with pytest.raises(ValueError, match="some lines have option_probs and some do not"):
        read_dialogues(write_jsonl(tmp_path / "mixed.jsonl", records))


def test_stages_are_the_runs_of_one_key_in_file_order():
    records = [{"domain": d} for d in ["flight-2"] * 2 + ["flight-3"] * 3 + ["flight"]]
    names, numbers = record_stages(records, "domain", "d.jsonl")
    assert names == ("flight-2", "flight-3", "flight")
    np.testing.assert_array_equal(numbers, [0, 0, 1, 1, 1, 2])
    with pytest.raises(ValueError, match=r"d.jsonl line 4: .*'flight-2' must be consecutive"):
        record_stages(records[:3] + records[:1], "domain", "d.jsonl")
    with pytest.raises(ValueError, match=r"d.jsonl line 1: stage_key 'part' needs a string"):
        record_stages(records, "part", "d.jsonl")


def test_each_example_knows_its_line_when_lines_are_skipped(tokenizer):
    records = bayesian_records(3, seed=1, rounds=(1,))
    records.insert(1, {"messages": records[0]["messages"][:1], "option_probs": []})
    with pytest.warns(UserWarning, match="skipped 1 of 4 lines"):
        data = tokenize_dialogues(records, tokenizer, 4096)
    assert data.record_index == [0, 2, 3]


def test_worker_processes_give_the_same_examples_and_errors(tokenizer):
    records = bayesian_records(12, seed=2, rounds=(1, 5))
    records.insert(5, {"messages": [{"role": "user", "content": "hi"}]})  # skipped
    one = tokenize_dialogues(records, tokenizer, 700, need_answers=True, workers=1)
    three = tokenize_dialogues(records, tokenizer, 700, need_answers=True, workers=3)
    assert (one.n_skipped, one.n_truncated, one.n_dropped) == (
        three.n_skipped, three.n_truncated, three.n_dropped)
    assert len(one.examples) == len(three.examples) == 12 - one.n_dropped
    for a, b in zip(one.examples, three.examples, strict=True):
        for field in ("input_ids", "labelled", "answer_pos", "answer", "option_probs"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    records[9]["messages"][1]["content"] = "I would not know."
    with pytest.raises(ValueError, match="line 10: assistant turn 1"):
        tokenize_dialogues(records, tokenizer, 700, need_answers=True, workers=3)

"""Linear probes at the answers: the states are the ones the option numbers are scored from,
the probe fits what is linearly there and nothing else, and the command's bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from bayesflight import chat
from bayesflight.assistants import make_assistant
from bayesflight.cli import main
from bayesflight.domains import FLIGHT
from bayesflight.llm import load_model
from bayesflight.llm.probe import (
    AnswerStates,
    answer_states,
    check_records,
    fit_probe,
    probe_layers,
    static_answers,
)
from bayesflight.metrics import Z95
from bayesflight.train.data import read_dialogues
from tiny_models import make_tiny_model


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny", n_layers=2)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("dialogues")
    for name, pool, seed, n in (("train", "train", 1, 12), ("test", "eval", 2, 6)):
        assert main(["generate", "--teacher", "bayesian", "--dialogues", str(n), "--rounds",
                     "3", "--user-pool", pool, "--seed", str(seed),
                     "--out", str(root / f"{name}.jsonl")]) == 0
    return root / "train.jsonl", root / "test.jsonl"


def test_the_last_layer_state_is_the_one_the_option_numbers_are_scored_from(tiny_dir, files):
    model, tokenizer = load_model(str(tiny_dir), device="cpu", dtype="fp32")
    records = read_dialogues(files[0])[:5]
    got = answer_states(model, tokenizer, records, batch_size=2)
    assert got.states.shape == (15, 3, model.config.hidden_size)  # 5 dialogues x 3 rounds
    assert got.rounds.tolist() == [0, 1, 2] * 5
    assert got.choice.tolist() == [c for r in records for c in r["choices"]]
    assert got.teacher.tolist() == [int(np.argmax(p)) for r in records
                                    for p in r["option_probs"]]
    assert got.dialogue.tolist() == [i for i in range(5) for _ in range(3)]
    # Through the output layer, the last state gives the model's own logits before each
    # option number: the position is the one the model answers from.
    text = tokenizer.apply_chat_template(records[0]["messages"], tokenize=False)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = torch.tensor([encoded.input_ids])
    with torch.inference_mode():
        logits = model(ids).logits[0]
        from_states = model.get_output_embeddings()(torch.from_numpy(got.states[:3, -1]))
    digits = [m.end() - 1 for m in re.finditer(r"The best option is Flight \d", text)]
    positions = [next(i for i, (a, b) in enumerate(encoded.offset_mapping) if a <= c < b) - 1
                 for c in digits]
    assert len(positions) == 3
    torch.testing.assert_close(from_states, logits[positions], atol=1e-4, rtol=1e-4)
    # Batching (right padding) does not change the states.
    one = answer_states(model, tokenizer, records, batch_size=1)
    np.testing.assert_allclose(one.states, got.states, atol=1e-4)


def test_static_targets_are_the_reference_assistants_answers_to_each_question():
    rng = np.random.default_rng(3)
    rounds = FLIGHT.sample(rng, (4, 3))
    price = FLIGHT.feature_names.index("price")
    rounds[:, :, price] = [[0.5, 0.1, 0.9], [0.3, 0.8, 0.0], [0.2, 0.6, 0.4], [1.0, 0.7, 0.8]]
    messages = chat.conversation(FLIGHT, rounds, np.zeros(4, int), np.ones(4, int),
                                 FLIGHT.sample(rng, (3,)))
    record = {"domain": "flight", "messages": messages}
    got = static_answers(record, 4, ["prior-majority", "cheapest"])
    assert got["cheapest"].tolist() == [1, 2, 0, 1]
    expected = make_assistant("prior-majority", FLIGHT).recommend(rounds)
    np.testing.assert_array_equal(got["prior-majority"], expected)
    assert static_answers(record, 2, ["cheapest"])["cheapest"].tolist() == [1, 2]


def test_skipped_and_truncated_dialogues_keep_their_own_choices(tiny_dir, files, tmp_path):
    model, tokenizer = load_model(str(tiny_dir), device="cpu", dtype="fp32")
    records = read_dialogues(files[0])[:4]
    records[1] = {**records[1], "messages": records[1]["messages"][:1], "option_probs": [],
                  "choices": []}  # no assistant turn: skipped
    full = answer_states(model, tokenizer, records, batch_size=3)
    assert full.dialogue.tolist() == [0, 0, 0, 2, 2, 2, 3, 3, 3]
    assert full.choice.tolist() == [c for i in (0, 2, 3) for c in records[i]["choices"]]
    assert any("skipped 1 of 4" in note for note in full.notes)
    text = tokenizer.apply_chat_template(records[0]["messages"][:4], tokenize=False)
    cut = answer_states(model, tokenizer, records, batch_size=3,
                        max_len=len(tokenizer(text).input_ids) + 1)
    assert cut.rounds.tolist() == [0, 1] * 3  # the third round cut from every dialogue
    assert cut.choice.tolist() == [c for i in (0, 2, 3) for c in records[i]["choices"][:2]]
    np.testing.assert_allclose(cut.states, full.states[full.rounds < 2], atol=1e-4)
    assert any("kept their opening rounds only" in note for note in cut.notes)


def test_a_probe_finds_a_linear_rule_and_nothing_in_noise():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 3))
    x, x_new = rng.normal(size=(600, 20)) * 5 + 3, rng.normal(size=(600, 20)) * 5 + 3
    probe = fit_probe(x, (x @ w).argmax(1), 3)
    assert (probe.predict(x_new) == (x_new @ w).argmax(1)).mean() > 0.9
    again = fit_probe(x, (x @ w).argmax(1), 3)
    np.testing.assert_array_equal(again.weight, probe.weight)  # deterministic
    noise = fit_probe(x, rng.integers(0, 3, 600), 3)
    assert abs((noise.predict(x_new) == rng.integers(0, 3, 600)).mean() - 1 / 3) < 0.08


@pytest.mark.parametrize("x, y, l2, message", [
    (np.full((4, 2), np.nan), [0, 1, 2, 0], 0.1, "finite"),
    (np.ones((4, 2)), [0, 1, 3, 0], 0.1, "classes 0..2"),
    (np.ones((4, 2)), [0, 1, 2], 0.1, "x must be"),
    (np.ones((4, 2)), [0, 1, 2, 0], -1.0, "l2"),
])
def test_a_probe_refuses_bad_input(x, y, l2, message):
    with pytest.raises(ValueError, match=message):
        fit_probe(np.asarray(x), np.asarray(y), 3, l2)


def _states(rng, n: int, signal: float) -> AnswerStates:
    teacher = rng.integers(0, 3, n)
    noise = rng.normal(size=(n, 2, 6)).astype(np.float32)
    noise[:, 1, :3] += signal * np.eye(3, dtype=np.float32)[teacher]  # layer 1 knows
    choice = np.where(rng.random(n) < 0.7, teacher, rng.integers(0, 3, n))
    return AnswerStates(noise, np.arange(n) % 2, teacher, choice, np.arange(n) // 2, 3)


def constant_option(states: AnswerStates) -> int:
    return int(np.bincount(states.teacher).argmax())


def test_probe_layers_scores_each_layer_and_the_references_by_round():
    rng = np.random.default_rng(1)
    train, test = _states(rng, 400, 4.0), _states(rng, 300, 4.0)
    result = probe_layers(train, test, [0, 1])
    noise, signal = result["layers"]
    assert signal["layer"] == 1 and min(signal["agreement"]) > 0.95
    assert max(noise["agreement"]) < 0.5
    for r in range(2):
        at = test.rounds == r
        assert result["teacher"]["accuracy"][r] == pytest.approx(
            (test.teacher[at] == test.choice[at]).mean())
        assert signal["accuracy"][r] == pytest.approx(result["teacher"]["accuracy"][r],
                                                      abs=0.05)
        hits = (np.full(at.sum(), constant_option(train)) == test.teacher[at]).astype(float)
        half = Z95 * hits.std(ddof=1) / np.sqrt(len(hits))
        np.testing.assert_allclose(result["constant"]["agreement_ci95"][r],
                                   np.clip([hits.mean() - half, hits.mean() + half], 0, 1))
        low, high = noise["agreement_ci95"][r]
        assert low <= noise["agreement"][r] <= high
    constant = result["constant"]["option"]
    assert constant == np.bincount(train.teacher).argmax()
    with pytest.raises(ValueError, match="layers must lie in 0..1"):
        probe_layers(train, test, [2])
    other = AnswerStates(test.states, test.rounds, test.teacher, test.choice, test.dialogue, 4)
    with pytest.raises(ValueError, match="3 options per set and the test dialogues 4"):
        probe_layers(train, other, [0])


def test_the_command_writes_every_layer(tiny_dir, files, tmp_path, capsys):
    train, test = files
    assert main(["probe", "--model", str(tiny_dir), "--data", str(train), "--test", str(test),
                 "--device", "cpu", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| layer 2 |" in out and "| the teacher itself |" in out
    result = json.loads((tmp_path / "probe.json").read_text())
    by_target = result["targets"]["teacher"]
    assert [row["layer"] for row in by_target["layers"]] == [0, 1, 2]
    assert (result["data"], result["test"], result["limit"]) == (str(train), str(test), None)
    assert list(result["targets"]) == ["teacher"]
    assert (by_target["n_train"], by_target["n_test"]) == (36, 18)
    assert len(by_target["layers"][0]["agreement"]) == 3


def test_the_command_probes_each_target(tiny_dir, files, tmp_path, capsys):
    train, test = files
    assert main(["probe", "--model", str(tiny_dir), "--data", str(train), "--test", str(test),
                 "--targets", "cheapest,teacher,prior-majority,choice", "--layers", "0,2",
                 "--device", "cpu", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| probe of the cheapest |" in out and "| probe of the choice |" in out
    result = json.loads((tmp_path / "probe.json").read_text())
    assert list(result["targets"]) == ["cheapest", "teacher", "prior-majority", "choice"]
    for name, by_target in result["targets"].items():
        assert by_target["target"] == name
        assert [row["layer"] for row in by_target["layers"]] == [0, 2]
    # The accuracy is the user's choice's, whatever the target; the teacher's the same too.
    teacher = result["targets"]["teacher"]["teacher"]
    assert all(t["teacher"] == teacher for t in result["targets"].values())


@pytest.mark.parametrize("flags, message", [
    (["--layers", "3"], "--layers must lie in 0..2 for this model"),
    (["--layers", "a,b"], "argument --layers: expected 'all' or layer numbers"),
    (["--l2", "-1"], "argument --l2: expected a number >= 0"),
    (["--targets", "teacher,oracle"], "argument --targets: expected some of teacher,choice"),
    (["--test", "missing.jsonl"], "--test: data file missing.jsonl does not exist"),
])
def test_the_command_refuses_bad_input_in_one_line(tiny_dir, files, tmp_path, capsys,
                                                   monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)
    args = ["probe", "--model", str(tiny_dir), "--data", str(files[0]), "--test",
            str(files[1]), "--device", "cpu", *flags]
    try:
        code = main(args)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_dialogues_without_choices_are_refused_with_the_line(tiny_dir, files, tmp_path,
                                                             capsys):
    lines = files[1].read_text().splitlines()
    record = json.loads(lines[1])
    del record["choices"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], json.dumps(record)]) + "\n")
    assert main(["probe", "--model", str(tiny_dir), "--data", str(files[0]), "--test",
                 str(bad), "--device", "cpu", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"--test {bad} line 2: 'choices' must give the user's choice (0..2)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("test_args, flags, message", [
    (["--domain", "hotel"], [], "--data has flight dialogues of 3 options and --test hotel of 3"),
    (["--options", "4"], [], "--data has flight dialogues of 3 options and --test flight of 4"),
    ([], ["--targets", "teacher,cheapest"], None),
])
def test_files_a_probe_cannot_compare_are_refused_before_the_model_loads(
        tiny_dir, files, tmp_path, capsys, monkeypatch, test_args, flags, message):
    import bayesflight.llm.models as models

    test = tmp_path / "test.jsonl"
    domain = "flight-2" if message is None else "flight"
    data = files[0]
    if message is None:  # the cheapest option needs a price; flight-2 has none
        data = tmp_path / "data.jsonl"
        assert main(["generate", "--teacher", "bayesian", "--dialogues", "3", "--domain",
                     domain, "--out", str(data)]) == 0
        test_args = ["--domain", domain]
        message = "--targets cheapest: domain flight-2 has no 'price' feature"
    assert main(["generate", "--teacher", "bayesian", "--dialogues", "3", *test_args,
                 "--out", str(test)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    assert main(["probe", "--model", str(tiny_dir), "--data", str(data), "--test", str(test),
                 *flags, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("change, message", [
    ({"domain": 5}, "line 1: 'domain' must be a domain name, got 5"),
    ({"domain": "boat"}, "line 1: domain must be one of"),
    ({"choices": [None, 0, 0]}, "line 1: 'choices' must give the user's choice (0..2)"),
    ({"choices": [1.5, 0, 0]}, "line 1: 'choices' must give"),
    ({"choices": [3, 0, 0]}, "line 1: 'choices' must give"),
    ({"choices": [0]}, "in each of its 3 rounds"),
])
def test_records_a_probe_cannot_use_are_refused_in_one_line(files, change, message):
    record = {**read_dialogues(files[0])[0], **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        check_records([record], "--data d.jsonl")
    with pytest.raises(ValueError, match="--data d.jsonl: no dialogues"):
        check_records([], "--data d.jsonl")


def test_out_that_is_a_file_is_refused_before_anything_runs(tiny_dir, files, tmp_path,
                                                            capsys):
    (tmp_path / "o").write_text("")
    assert main(["probe", "--model", str(tiny_dir), "--data", str(files[0]), "--test",
                 str(files[1]), "--out", str(tmp_path / "o")]) == 2
    assert "--out" in capsys.readouterr().err

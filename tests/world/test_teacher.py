"""Teaching dialogues: the text read back gives the teacher's answers, the truth and no leakage."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from bayesflight import Belief, HypothesisGrid, chat, reference
from bayesflight.cards import generate_command
from bayesflight.domains import FLIGHT, HOTEL, Domain, get_domain
from bayesflight.evalfiles import load_eval_set, write_eval_files
from bayesflight.evalset import make_eval_set
from bayesflight.heldout import heldout_sets
from bayesflight.reference import ChoiceModel
from bayesflight.sampling import user_split
from bayesflight.teacher import TeachingConfig, generate
from bayesflight.teacher_jsonl import render


def lines_of(config: TeachingConfig) -> list[dict]:
    """The dialogues of ``config`` as parsed JSON lines, checking each is canonical JSON."""
    out = []
    for chunk in generate(config):
        for line in render(chunk, config):
            record = json.loads(line)
            assert json.dumps(record) == line
            out.append(record)
    return out


def parse_dialogue(domain: Domain, messages: list[dict], n_options: int):
    """From the text alone: option sets (R, K, F), recommendations (R,), revealed choices (R-1,)."""
    noun = domain.noun.capitalize()
    feedback = re.compile(
        rf"Your option {noun} (\d+) is (?:correct\.|incorrect\. I prefer {noun} (\d+)\.)$"
    )
    rounds, recs, prefs = [], [], []
    for i, message in enumerate(messages):
        assert message["role"] == ("user" if i % 2 == 0 else "assistant")
        if message["role"] == "assistant":
            match = re.fullmatch(rf"The best option is {noun} (\d+)\.", message["content"])
            assert match is not None, message["content"]
            recs.append(int(match.group(1)) - 1)
            continue
        head, question, blocks = message["content"].split("\n\n")
        assert question == f"Which {domain.noun} is the best option?"
        if i == 0:
            assert head == chat.instruction(domain)
        else:
            match = feedback.fullmatch(head)
            assert match is not None, head
            assert int(match.group(1)) - 1 == recs[-1]
            prefs.append(recs[-1] if match.group(2) is None else int(match.group(2)) - 1)
        lines = blocks.split("\n")
        assert lines[0::2] == [f"{domain.label(k)}:" for k in range(n_options)]
        rounds.append([domain.parse(text) for text in lines[1::2]])
    return np.array(rounds), np.array(recs), np.array(prefs, dtype=np.int64)


def belief_for(model: ChoiceModel, grid: HypothesisGrid) -> Belief:
    return Belief(grid, model.kind, beta=model.beta, epsilon=model.epsilon)


@pytest.mark.parametrize(
    ("domain", "model", "n_rounds", "n_options"),
    [
        (FLIGHT, ChoiceModel(), 5, 3),
        (HOTEL, ChoiceModel(), 5, 3),
        (FLIGHT, ChoiceModel("softmax", beta=3.0), 5, 3),
        (HOTEL, ChoiceModel("epsilon", epsilon=0.2), 4, 4),
    ],
    ids=["flight", "hotel", "flight-softmax", "hotel-epsilon-K4"],
)
def test_bayesian_turns_are_what_belief_recommends_from_the_text(domain, model, n_rounds,
                                                                  n_options):
    config = TeachingConfig("bayesian", domain, 120, seed=3, n_rounds=n_rounds,
                            n_options=n_options, choice_model=model)
    grid = HypothesisGrid(domain.n_features)
    mistakes = 0
    for record in lines_of(config):
        rounds, recs, prefs = parse_dialogue(domain, record["messages"], n_options)
        assert rounds.shape == (n_rounds, n_options, domain.n_features)
        np.testing.assert_array_equal(prefs, record["choices"][:-1])
        np.testing.assert_array_equal(record["reward_fn"], grid.weights[record["user_id"]])
        belief = belief_for(model, grid)
        for r in range(n_rounds):
            assert recs[r] == belief.recommend(rounds[r])
            np.testing.assert_allclose(record["option_probs"][r], belief.predictive(rounds[r]),
                                       rtol=1e-9, atol=1e-12)
            belief.update(rounds[r], record["choices"][r])
        mistakes += int((recs != np.array(record["choices"])).sum())
    assert mistakes > 0  # the Bayesian teacher's early mistakes stay in


@pytest.mark.parametrize("domain", [FLIGHT, HOTEL], ids=["flight", "hotel"])
@pytest.mark.parametrize("teacher", ["bayesian", "oracle"])
def test_feedback_states_the_deterministic_users_true_preference(domain, teacher):
    config = TeachingConfig(teacher, domain, 150, seed=11)
    for record in lines_of(config):
        rounds, _, prefs = parse_dialogue(domain, record["messages"], 3)
        best = reference.best_option(rounds @ np.array(record["reward_fn"]))
        np.testing.assert_array_equal(prefs, best[:-1])
        np.testing.assert_array_equal(record["choices"], best)


def test_oracle_follows_a_noisy_users_actual_choice_with_certainty():
    model = ChoiceModel("epsilon", epsilon=0.5)
    config = TeachingConfig("oracle", FLIGHT, 200, seed=5, choice_model=model)
    strays = 0
    for record in lines_of(config):
        rounds, recs, prefs = parse_dialogue(FLIGHT, record["messages"], 3)
        np.testing.assert_array_equal(recs, record["choices"])
        np.testing.assert_array_equal(prefs, record["choices"][:-1])
        np.testing.assert_array_equal(record["option_probs"],
                                      np.eye(3)[record["choices"]])
        assert not any("incorrect" in m["content"] for m in record["messages"][::2])
        best = reference.best_option(rounds @ np.array(record["reward_fn"]))
        strays += int((best != np.array(record["choices"])).sum())
    assert strays > 0  # the noisy users do stray, and the oracle follows them


@pytest.mark.parametrize(
    ("domain", "n_rounds", "n_options"),
    [(FLIGHT, 5, 3), (HOTEL, 5, 3), (FLIGHT, 2, 4), (get_domain("flight-8"), 3, 2)],
    ids=["flight", "hotel", "flight-K4", "flight8-K2"],
)
def test_messages_equal_the_chat_module_and_metadata_matches(domain, n_rounds, n_options):
    config = TeachingConfig("bayesian", domain, 40, seed=2, n_rounds=n_rounds,
                            n_options=n_options)
    chunk = next(generate(config))
    for i, line in enumerate(render(chunk, config)):
        record = json.loads(line)
        assert record["messages"] == chat.conversation(
            domain, chunk.rounds[i], chunk.recommendations[i], chunk.choices[i]
        )
        assert record["idx"] == i
        assert record["teacher"] == "bayesian" and record["domain"] == domain.name
        assert record["choices"] == chunk.choices[i].tolist()
        assert record["option_probs"] == chunk.option_probs[i].tolist()
        assert len(record["messages"]) == 2 * n_rounds


def test_users_are_balanced_over_the_chosen_pool():
    train, evaluation = user_split(624)
    records = lines_of(TeachingConfig("oracle", FLIGHT, 2 * 624, seed=0, n_rounds=1))
    counts = np.bincount([r["user_id"] for r in records], minlength=624)
    assert (counts == 2).all()
    for users, pool in (("train", train), ("eval", evaluation)):
        chunk = next(generate(TeachingConfig("oracle", FLIGHT, 300, seed=0, users=users)))
        assert np.isin(chunk.user_ids, pool).all()


def test_heldout_sets_are_those_of_the_evaluation_set():
    for domain, k in ((FLIGHT, 3), (HOTEL, 4)):
        expected = make_eval_set(domain, seed=7, n_users=1, options_per_round=k).heldout
        np.testing.assert_array_equal(heldout_sets(domain, 7, 100, k), expected)


def multiset(option_set: np.ndarray) -> tuple:
    return tuple(sorted(map(tuple, option_set.tolist())))


def test_no_round_equals_a_heldout_set_and_clashes_are_redrawn_and_counted():
    # two features and two options per round make clashes common enough to count.
    domain = get_domain("flight-2")
    config = TeachingConfig("bayesian", domain, 3000, seed=1, n_options=2)
    heldout = {multiset(s) for s in heldout_sets(domain, 1, 100, 2)}
    chunks = list(generate(config))
    redrawn = sum(c.n_redrawn for c in chunks)
    assert redrawn > 20
    shown = {multiset(s) for c in chunks for s in c.rounds.reshape(-1, 2, 2)}
    assert not shown & heldout
    unguarded = list(generate(TeachingConfig("bayesian", domain, 3000, seed=1, n_options=2,
                                             n_heldout=0)))
    clashes = sum(multiset(s) in heldout for c in unguarded for s in c.rounds.reshape(-1, 2, 2))
    assert clashes >= 20  # without the guard the same stream would leak


@pytest.mark.parametrize(
    ("field", "value"),
    [("teacher", "random"), ("users", "some"), ("n_dialogues", 0), ("n_options", 1),
     ("seed", -1), ("heldout_seed", -2)],
)
def test_config_rejects_bad_values_naming_them(field, value):
    kwargs = {"teacher": "bayesian", "domain": FLIGHT, "n_dialogues": 5, "seed": 0}
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        TeachingConfig(**kwargs)


def test_a_sample_of_users_is_the_evaluation_sets_and_dialogues_pass_through_it():
    config = TeachingConfig("oracle", FLIGHT, 3 * 40 + 7, seed=4, n_rounds=1, users="eval",
                            n_users=40)
    ids = np.concatenate([c.user_ids for c in generate(config)])
    sample = make_eval_set(FLIGHT, seed=4, n_users=40, users="eval", n_heldout=1).user_ids
    np.testing.assert_array_equal(np.unique(ids), sample)
    assert sorted(np.bincount(ids)[sample].tolist()) == [3] * 33 + [4] * 7
    assert not np.array_equal(ids[:40], np.sort(ids[:40]))  # passes are shuffled


def test_a_sample_of_the_whole_pool_is_the_pool():
    everyone = TeachingConfig("bayesian", HOTEL, 50, seed=2, users="train")
    sampled = TeachingConfig("bayesian", HOTEL, 50, seed=2, users="train", n_users=499)
    assert lines_of(sampled) == lines_of(everyone)


def test_explicit_heldout_sets_replace_the_seeded_draw():
    domain = get_domain("flight-2")  # two features, two options: clashes are common
    seeded = TeachingConfig("bayesian", domain, 3000, seed=1, n_options=2, heldout_seed=6)
    given = TeachingConfig("bayesian", domain, 3000, seed=1, n_options=2,
                           heldout=heldout_sets(domain, 6, 100, 2))
    assert lines_of(given) == lines_of(seeded)
    other = heldout_sets(domain, 9, 30, 2)
    chunks = list(generate(TeachingConfig("bayesian", domain, 3000, seed=1, n_options=2,
                                          heldout=other)))
    assert sum(c.n_redrawn for c in chunks) > 0
    shown = {multiset(s) for c in chunks for s in c.rounds.reshape(-1, 2, 2)}
    assert not shown & {multiset(s) for s in other}


def test_the_papers_heldout_file_gives_the_sets_to_avoid(tmp_path):
    evalset = make_eval_set(FLIGHT, seed=8, n_users=3, n_heldout=20)
    _, heldout_file = write_eval_files(evalset, tmp_path)
    read = load_eval_set(tmp_path / "interaction" / "flight.jsonl", heldout_file).heldout
    config = TeachingConfig("oracle", FLIGHT, 30, seed=0, heldout=read)
    seeded = TeachingConfig("oracle", FLIGHT, 30, seed=0, heldout_seed=8, n_heldout=20)
    assert lines_of(config) == lines_of(seeded)


def test_a_config_with_heldout_sets_compares_and_hashes_by_value():
    sets = heldout_sets(FLIGHT, 3, 10)
    a = TeachingConfig("bayesian", FLIGHT, 5, seed=0, heldout=sets)
    b = TeachingConfig("bayesian", FLIGHT, 5, seed=0, heldout=sets.copy())
    c = TeachingConfig("bayesian", FLIGHT, 5, seed=0, heldout=sets[:9])
    assert a == b and hash(a) == hash(b) and a != c and len({a, b, c}) == 2
    assert a != TeachingConfig("bayesian", FLIGHT, 5, seed=0)
    assert dataclasses.replace(a, seed=1).heldout.shape == (10, 3, 4)
    sets[0, 0, 0] = 0.5 if sets[0, 0, 0] != 0.5 else 0.0
    assert a == b and not a.heldout.flags.writeable  # a copy, read-only


@pytest.mark.parametrize(("field", "value", "others"), [
    ("n_users", 0, {}), ("n_users", 625, {}), ("n_users", 126, {"users": "eval"}),
    ("n_users", 2.5, {}),
    ("heldout", np.zeros((4, 2, 4)), {}), ("heldout", np.zeros((4, 3, 3)), {}),
    ("heldout", np.zeros((0, 3, 4)), {}), ("heldout", np.zeros((3, 4)), {}),
    ("heldout", np.full((4, 3, 4), 0.05), {}), ("heldout", [[[0.0] * 4] * 3, [[0.0]]], {}),
    ("heldout_seed", np.zeros((4, 3, 4)), {"heldout_seed": 1}),
])
def test_config_rejects_bad_samples_and_heldout_sets_naming_them(field, value, others):
    kwargs = {"teacher": "bayesian", "domain": FLIGHT, "n_dialogues": 5, "seed": 0, **others}
    kwargs["heldout" if field == "heldout_seed" else field] = value
    with pytest.raises(ValueError, match=field):
        TeachingConfig(**kwargs)


def test_the_cards_command_names_the_sample_and_the_heldout_file():
    plain = generate_command(TeachingConfig("oracle", FLIGHT, 5, seed=2), "out/")
    assert "--user-pool all --heldout-seed 2 --heldout 100" in plain
    config = TeachingConfig("oracle", FLIGHT, 5, seed=2, users="train", n_users=30,
                            heldout=heldout_sets(FLIGHT, 0, 10))
    command = generate_command(config, "out/", "paper/heldout/flight.json")
    assert "--user-pool train --users 30 --heldout-file paper/heldout/flight.json" in command
    assert "--heldout-seed" not in command and "--heldout " not in command
    with pytest.raises(ValueError, match="heldout_file"):
        generate_command(config, "out/")


def test_the_dataset_card_tells_the_sample_and_the_heldout_file(tmp_path):
    pytest.importorskip("huggingface_hub")
    from bayesflight.cards import write_dataset_card

    config = TeachingConfig("oracle", FLIGHT, 5, seed=2, n_users=30,
                            heldout=heldout_sets(FLIGHT, 0, 10))
    text = write_dataset_card(tmp_path, config, 0, "paper/flight.json").read_text()
    assert "a seeded sample of 30 of them" in text
    assert "10 held-out option sets of `paper/flight.json`" in text

"""The paper's evaluation files: written and read back exactly; malformed files named precisely."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from bayesflight.domains import FLIGHT, HOTEL
from bayesflight.evalfiles import EvalFileError, load_eval_set, write_eval_files
from bayesflight.evalset import make_eval_set
from bayesflight.reference import ChoiceModel

FIELDS = ("user_weights", "user_ids", "rounds", "choices", "heldout", "heldout_choices")


@pytest.mark.parametrize("domain", [FLIGHT, HOTEL])
def test_write_then_load_gives_the_same_set(domain, tmp_path: Path) -> None:
    e = make_eval_set(domain, seed=9, n_users=40, n_rounds=4, n_heldout=25,
                      user_model=ChoiceModel("epsilon", epsilon=0.2))
    interactions, heldout = write_eval_files(e, tmp_path)
    assert interactions == tmp_path / "interaction" / f"{domain.name}.jsonl"
    assert heldout == tmp_path / "heldout" / f"{domain.name}.json"
    back = load_eval_set(interactions, heldout, user_model=e.user_model)
    assert back.domain == domain and back.seed == 9 and back.user_model == e.user_model
    for name in FIELDS:
        assert np.array_equal(getattr(back, name), getattr(e, name)), name


def test_files_have_the_released_layout(tmp_path: Path) -> None:
    e = make_eval_set(FLIGHT, seed=1, n_users=3)
    interactions, heldout = write_eval_files(e, tmp_path)
    lines = interactions.read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert list(first) == ["idx", "reward_fn", "rounds", "seed", "features", "rounds_numpy"]
    assert first["idx"] == int(e.user_ids[0]) and first["reward_fn"] == e.user_weights[0].tolist()
    assert first["features"] == ["departure_time", "duration", "number_of_stops", "price"]
    assert len(first["rounds"]) == 5 and list(first["rounds"][0]) == ["options", "user_idx"]
    option = first["rounds"][0]["options"][1]
    assert option == FLIGHT.option_line(e.rounds[0, 0, 1], 1) and option.startswith("Flight 2: ")
    assert np.array_equal(first["rounds_numpy"], e.rounds[0])
    held = json.loads(heldout.read_text())
    assert list(held) == ["features", "all_options", "user_idxs"]
    assert len(held["all_options"]) == 100 and len(held["all_options"][0]) == 3
    assert held["user_idxs"][2] == {"reward_fn": e.user_weights[2].tolist(),
                                    "idxs": e.heldout_choices[2].tolist()}


def test_users_are_matched_by_reward_function_and_seeds_may_differ(tmp_path: Path) -> None:
    e = make_eval_set(FLIGHT, seed=1, n_users=6, n_heldout=10)
    interactions, heldout = write_eval_files(e, tmp_path)
    held = json.loads(heldout.read_text())
    held["user_idxs"].reverse()
    heldout.write_text(json.dumps(held))
    lines = [json.loads(x) for x in interactions.read_text().splitlines()]
    lines[3]["seed"] = 77
    interactions.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    back = load_eval_set(interactions, heldout)
    assert back.seed is None
    for name in FIELDS:
        assert np.array_equal(getattr(back, name), getattr(e, name)), name


Mutation = Callable[[list[dict], dict], None]


def _set(obj: dict, path: list, value: object) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


MALFORMED: list[tuple[str, Mutation, str]] = [
    ("missing field", lambda lines, held: lines[1].pop("rounds_numpy"),
     r"line 2, field 'rounds_numpy': missing"),
    ("option does not parse", lambda lines, held: _set(
        lines[2], ["rounds", 1, "options", 2], "Flight 3: departure time: 25:00 PM"),
     r"line 3, field 'rounds\[1\].options\[2\]'.*25:00 PM"),
    ("options out of order", lambda lines, held: lines[0]["rounds"][0]["options"].reverse(),
     r"line 1, field 'rounds\[0\].options\[0\]': option is numbered 3"),
    ("choice out of range", lambda lines, held: _set(lines[0], ["rounds", 4, "user_idx"], 3),
     r"line 1, field 'rounds\[4\].user_idx'.*0\.\.2"),
    ("choice is a bool", lambda lines, held: _set(lines[0], ["rounds", 0, "user_idx"], True),
     r"line 1, field 'rounds\[0\].user_idx'"),
    ("idx is text", lambda lines, held: _set(lines[1], ["idx"], "7"), r"line 2, field 'idx'"),
    ("seed is text", lambda lines, held: _set(lines[1], ["seed"], "7"), r"line 2, field 'seed'"),
    ("inconsistent feature names", lambda lines, held: _set(
        lines[3], ["features"], ["departure_time", "duration", "stops", "price"]),
     r"line 4, field 'features'"),
    ("reward off the levels", lambda lines, held: _set(lines[0], ["reward_fn", 1], 0.3),
     r"line 1, field 'reward_fn\[1\]'"),
    ("all-zero reward", lambda lines, held: _set(lines[0], ["reward_fn"], [0, 0, 0, 0]),
     r"line 1, field 'reward_fn'.*all-zero"),
    ("reward has 3 weights", lambda lines, held: lines[0]["reward_fn"].pop(),
     r"line 1, field 'reward_fn': expected 4 entries"),
    ("user not in held-out file", lambda lines, held: held["user_idxs"].pop(1),
     r"line 2, field 'reward_fn': no user with this reward function"),
    ("numbers disagree with text", lambda lines, held: _set(
        lines[2], ["rounds_numpy", 0, 0, 0], 0.55), r"line 3, field 'rounds_numpy'.*match"),
    ("ragged numbers", lambda lines, held: lines[2]["rounds_numpy"][0].pop(),
     r"line 3, field 'rounds_numpy'"),
    ("fewer rounds than the line before", lambda lines, held: lines[2]["rounds"].pop(),
     r"line 3, field 'rounds': expected 5 entries"),
    ("two options in a round", lambda lines, held: lines[2]["rounds"][0]["options"].pop(),
     r"line 3, field 'rounds\[0\].options': expected 3 entries"),
    ("line is not an object", lambda lines, held: _set(lines, [1], [1, 2]),
     r"line 2, field '<top>'"),
    ("held-out features unknown", lambda lines, held: _set(held, ["features"], ["a", "b"]),
     r"heldout.*field 'features'.*no known domain"),
    ("held-out option does not parse", lambda lines, held: _set(
        held, ["all_options", 4, 1], "Flight 2: price: $370"),
     r"field 'all_options\[4\]\[1\]'"),
    ("held-out truth out of range", lambda lines, held: _set(
        held, ["user_idxs", 0, "idxs", 5], -1), r"field 'user_idxs\[0\].idxs\[5\]'"),
    ("held-out truth too short", lambda lines, held: held["user_idxs"][0]["idxs"].pop(),
     r"field 'user_idxs\[0\].idxs': expected 10 entries"),
    ("held-out field missing", lambda lines, held: held.pop("all_options"),
     r"field 'all_options': missing"),
]


@pytest.mark.parametrize("case,mutate,message", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_files_name_file_line_and_field(case: str, mutate: Mutation, message: str,
                                                  tmp_path: Path) -> None:
    e = make_eval_set(FLIGHT, seed=1, n_users=4, n_heldout=10)
    interactions, heldout = write_eval_files(e, tmp_path)
    lines = [json.loads(x) for x in interactions.read_text().splitlines()]
    held = json.loads(heldout.read_text())
    mutate(lines, held)
    interactions.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    heldout.write_text(json.dumps(held))
    with pytest.raises(EvalFileError, match=message) as err:
        load_eval_set(interactions, heldout)
    target = heldout if "held-out" in case else interactions
    assert str(target) in str(err.value)


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    e = make_eval_set(FLIGHT, seed=1, n_users=4, n_heldout=10)
    interactions, heldout = write_eval_files(e, tmp_path)
    lines = interactions.read_text().splitlines()
    lines[2] = lines[2][:-5]
    interactions.write_text("\n".join(lines) + "\n")
    with pytest.raises(EvalFileError, match=rf"{interactions}, line 3: invalid JSON"):
        load_eval_set(interactions, heldout)
    heldout.write_text('{"features":\n ["departure_time",\n oops]}')
    with pytest.raises(EvalFileError, match=rf"{heldout}, line 3: invalid JSON"):
        load_eval_set(interactions, heldout)


def test_empty_interactions_and_a_domain_that_does_not_match(tmp_path: Path) -> None:
    e = make_eval_set(FLIGHT, seed=1, n_users=2, n_heldout=10)
    interactions, heldout = write_eval_files(e, tmp_path)
    with pytest.raises(EvalFileError, match="features.*hotel"):
        load_eval_set(interactions, heldout, domain=HOTEL)
    interactions.write_text("\n")
    with pytest.raises(EvalFileError, match="no users"):
        load_eval_set(interactions, heldout)
    with pytest.raises(FileNotFoundError):
        load_eval_set(tmp_path / "missing.jsonl", heldout)


def _written(tmp_path: Path, n_users: int = 6) -> tuple[Path, Path, list[dict], dict]:
    e = make_eval_set(FLIGHT, seed=1, n_users=n_users, n_heldout=10)
    interactions, heldout = write_eval_files(e, tmp_path)
    lines = [json.loads(x) for x in interactions.read_text().splitlines()]
    return interactions, heldout, lines, json.loads(heldout.read_text())


def _rewrite(interactions: Path, heldout: Path, lines: list[dict], held: dict) -> None:
    interactions.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    heldout.write_text(json.dumps(held))


def test_held_out_answers_that_contradict_their_reward_function_are_refused(tmp_path):
    interactions, heldout, lines, held = _written(tmp_path)
    entry = held["user_idxs"][2]
    entry["idxs"][7] = (entry["idxs"][7] + 1) % 3
    _rewrite(interactions, heldout, lines, held)
    with pytest.raises(EvalFileError, match=r"field 'user_idxs\[2\].idxs\[7\]'.*contradicts "
                                            r"the entry's reward_fn: option \d is the best"):
        load_eval_set(interactions, heldout)


def test_ties_go_to_the_lowest_option_as_the_spec_says(tmp_path):
    interactions, heldout, lines, held = _written(tmp_path)
    first = held["all_options"][0]
    first[1] = first[0].replace("Flight 1:", "Flight 2:")  # options 1 and 2 now tie for all
    sets = np.array([[FLIGHT.parse_option_line(t)[1] for t in s] for s in held["all_options"]])
    tied = None
    for j, entry in enumerate(held["user_idxs"]):
        u = sets[0] @ np.array(entry["reward_fn"])
        entry["idxs"][0] = 0 if u[0] >= u[2] else 2
        if u[0] > u[2]:
            tied = j
    assert tied is not None
    _rewrite(interactions, heldout, lines, held)
    assert load_eval_set(interactions, heldout).heldout_choices[:, 0].tolist() == [
        e["idxs"][0] for e in held["user_idxs"]]
    held["user_idxs"][tied]["idxs"][0] = 1  # the other tied option: not the spec's choice
    _rewrite(interactions, heldout, lines, held)
    with pytest.raises(EvalFileError, match=rf"user_idxs\[{tied}\].idxs\[0\]'.*options 1, 2 "
                                            r"tie for the best.*option 1"):
        load_eval_set(interactions, heldout)


def test_a_user_listed_twice_is_refused(tmp_path):
    interactions, heldout, lines, held = _written(tmp_path)
    _rewrite(interactions, heldout, [*lines, lines[1]], held)
    with pytest.raises(EvalFileError, match=r"line 7, field 'reward_fn': the same reward "
                                            r"function as line 2"):
        load_eval_set(interactions, heldout)
    held["user_idxs"].append(held["user_idxs"][0])
    _rewrite(interactions, heldout, lines, held)
    with pytest.raises(EvalFileError, match=r"user_idxs\[6\].reward_fn'.*same reward function "
                                            r"as user_idxs\[0\]"):
        load_eval_set(interactions, heldout)


def test_a_directory_for_a_file_is_named(tmp_path):
    interactions, heldout, _, _ = _written(tmp_path)
    with pytest.raises(ValueError, match=rf"interactions file {tmp_path} is a directory; "
                                         "expected a JSONL file"):
        load_eval_set(tmp_path, heldout)
    with pytest.raises(ValueError, match="held-out file .* is a directory"):
        load_eval_set(interactions, tmp_path)

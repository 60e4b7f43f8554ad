"""Evaluation sets: seeded, shaped as documented, held-out sets never met in interaction rounds."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight.domains import FLIGHT, HOTEL, flight_variant
from bayesflight.evalset import EvalSet, make_eval_set
from bayesflight.reference import ChoiceModel, best_option, hypothesis_grid, utilities
from bayesflight.sampling import user_split
from bayesflight.users import select_users


def test_default_set_is_every_user_in_grid_order() -> None:
    e = make_eval_set(FLIGHT, seed=3)
    assert (e.n_users, e.n_rounds, e.n_options, e.n_heldout) == (624, 5, 3, 100)
    assert e.rounds.shape == (624, 5, 3, 4) and e.heldout.shape == (100, 3, 4)
    assert np.array_equal(e.user_ids, np.arange(624))
    assert np.array_equal(e.user_weights, hypothesis_grid(4))
    assert e.user_weights[0].tolist() == [-1, -1, -1, -1]
    assert e.user_weights[1].tolist() == [-1, -1, -1, -0.5]
    assert e.seed == 3 and e.user_model == ChoiceModel()


def test_same_seed_same_set_other_seed_other_set() -> None:
    a, b = make_eval_set(HOTEL, seed=5, n_users=30), make_eval_set(HOTEL, seed=5, n_users=30)
    for name in ("user_ids", "rounds", "choices", "heldout", "heldout_choices"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    c = make_eval_set(HOTEL, seed=6, n_users=30)
    assert not np.array_equal(a.heldout, c.heldout)
    assert not np.array_equal(a.user_ids, c.user_ids)


def test_held_out_sets_depend_only_on_the_seed() -> None:
    a = make_eval_set(FLIGHT, seed=1, n_users=5, n_rounds=2)
    b = make_eval_set(FLIGHT, seed=1, n_users=50, n_rounds=7, users="eval")
    assert np.array_equal(a.heldout, b.heldout)


def test_deterministic_choices_are_each_users_best_option() -> None:
    e = make_eval_set(FLIGHT, seed=0, n_users=40)
    for u in range(e.n_users):
        assert np.array_equal(e.choices[u], best_option(e.rounds[u] @ e.user_weights[u]))
    truth = best_option(utilities(e.user_weights, e.heldout))  # (N, U)
    assert np.array_equal(e.heldout_choices, truth.T)


def test_noisy_users_deviate_in_rounds_but_not_on_held_out_truth() -> None:
    noisy = make_eval_set(FLIGHT, seed=0, n_users=200, user_model=ChoiceModel("epsilon",
                                                                             epsilon=0.5))
    clean = make_eval_set(FLIGHT, seed=0, n_users=200)
    assert np.array_equal(noisy.rounds, clean.rounds)
    assert np.array_equal(noisy.heldout_choices, clean.heldout_choices)
    differ = (noisy.choices != clean.choices).mean()
    assert 0.2 < differ < 0.45  # epsilon 0.5 over 3 options: 1/3 of choices change on average


def test_user_sample_is_sorted_seeded_and_from_its_pool() -> None:
    train, evaluation = user_split(624)
    ids = select_users(4, seed=2, n_users=50, users="eval")
    assert len(ids) == 50 and np.all(np.diff(ids) > 0) and np.isin(ids, evaluation).all()
    assert np.array_equal(select_users(4, 2, None, "train"), train)
    assert not np.array_equal(ids, select_users(4, seed=3, n_users=50, users="eval"))
    e = make_eval_set(FLIGHT, seed=2, n_users=50, users="eval")
    assert np.array_equal(e.user_ids, ids)
    assert np.array_equal(e.user_weights, hypothesis_grid(4)[ids])


def test_interaction_sets_never_equal_a_held_out_set() -> None:
    # 2 features, 2 options: 7381 distinct sets, so 1200 rounds against 100 held-out sets
    # would collide about 16 times if nothing redrew them.
    domain = flight_variant(2)
    e = make_eval_set(domain, seed=0, n_rounds=50, n_heldout=100, options_per_round=2)
    held = {tuple(sorted(map(tuple, s))) for s in domain.levels(e.heldout).tolist()}
    rounds = domain.levels(e.rounds).reshape(-1, 2, 2).tolist()
    assert not any(tuple(sorted(map(tuple, s))) in held for s in rounds)


@pytest.mark.parametrize("kwargs,match", [
    ({"n_users": 0}, "n_users"), ({"n_users": 625}, "n_users"),
    ({"n_users": 200, "users": "eval"}, "n_users"), ({"users": "test"}, "users"),
    ({"n_rounds": 0}, "n_rounds"), ({"n_heldout": 0}, "n_heldout"),
    ({"options_per_round": 1}, "options_per_round"), ({"n_rounds": 2.5}, "n_rounds"),
])
def test_bad_arguments_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_eval_set(FLIGHT, **kwargs)


def test_evalset_checks_shapes() -> None:
    e = make_eval_set(FLIGHT, seed=0, n_users=3)
    with pytest.raises(ValueError, match="heldout_choices"):
        EvalSet(e.domain, e.user_weights, e.user_ids, e.rounds, e.choices, e.heldout,
                e.heldout_choices[:, :-1], e.seed)
    with pytest.raises(ValueError, match="user_weights"):
        EvalSet(HOTEL, e.user_weights[:, :3], e.user_ids, e.rounds, e.choices, e.heldout,
                e.heldout_choices, e.seed)

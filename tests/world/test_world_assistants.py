"""Assistants: the Bayesian one against the NumPy reference, the oracle, and the baselines."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight import HypothesisGrid
from bayesflight.assistants import (
    ASSISTANT_NAMES,
    Assistant,
    BayesianAssistant,
    CheapestAssistant,
    OracleAssistant,
    PriorMajorityAssistant,
    RandomAssistant,
    make_assistant,
)
from bayesflight.domains import FLIGHT, HOTEL, flight_variant
from bayesflight.evalset import make_eval_set
from bayesflight.protocol import run_assistant
from bayesflight.reference import (
    ChoiceModel,
    hypothesis_grid,
    predictive,
    uniform_log_prior,
    update,
)


class Interactive(Assistant):
    """Delegates to an assistant but hides its run_batch: the protocol runs it user by user."""

    def __init__(self, inner: Assistant) -> None:
        self.inner, self.name, self.knows_user = inner, inner.name, inner.knows_user

    def reset(self, user_weights: np.ndarray | None = None) -> None:
        self.inner.reset(user_weights)

    def predict(self, options: np.ndarray) -> np.ndarray:
        return self.inner.predict(options)

    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        self.inner.observe(options, recommended, choice)


@pytest.mark.parametrize("model", [ChoiceModel(), ChoiceModel("softmax", beta=4.0),
                                   ChoiceModel("epsilon", epsilon=0.1)])
def test_bayesian_follows_the_reference_round_by_round(model: ChoiceModel) -> None:
    e = make_eval_set(FLIGHT, seed=4, n_users=3, n_rounds=4, n_heldout=20)
    weights = hypothesis_grid(4)
    assistant = BayesianAssistant(4, model)
    for u in range(e.n_users):
        assistant.reset()
        log_p = uniform_log_prior(len(weights))
        for r in range(e.n_rounds):
            expected = predictive(log_p, weights, e.heldout, model)
            assert np.allclose(assistant.predict(e.heldout), expected, rtol=1e-10, atol=1e-14)
            x, y = e.rounds[u, r], int(e.choices[u, r])
            assert np.allclose(assistant.predict(x), predictive(log_p, weights, x, model),
                               rtol=1e-10, atol=1e-14)
            assistant.observe(x, 0, y)
            log_p = update(log_p, weights, x, y, model)


@pytest.mark.parametrize("model", [ChoiceModel(), ChoiceModel("softmax", beta=4.0)])
def test_bayesian_batch_equals_the_interactive_protocol(model: ChoiceModel) -> None:
    e = make_eval_set(HOTEL, seed=1, n_users=25, n_rounds=3, n_heldout=30)
    batch = run_assistant(BayesianAssistant(4, model), e)
    loop = run_assistant(Interactive(BayesianAssistant(4, model)), e, progress=False)
    assert np.array_equal(batch.heldout_recommendations, loop.heldout_recommendations)
    assert np.array_equal(batch.round_recommendations, loop.round_recommendations)
    assert np.allclose(batch.heldout_predictive, loop.heldout_predictive, rtol=1e-10,
                       atol=1e-14)
    assert np.allclose(batch.round_predictive, loop.round_predictive, rtol=1e-10, atol=1e-14)
    assert batch.completed.all()


def test_bayesian_batch_rejects_a_grid_of_another_size() -> None:
    e = make_eval_set(flight_variant(3), seed=0, n_users=2)
    with pytest.raises(ValueError, match="features"):
        BayesianAssistant(4).run_batch(e)


def test_oracle_puts_all_mass_on_the_users_best_option() -> None:
    e = make_eval_set(FLIGHT, seed=0, n_users=10)
    oracle = OracleAssistant()
    with pytest.raises(ValueError, match="user_weights"):
        oracle.reset()
    for u in range(e.n_users):
        oracle.reset(e.user_weights[u])
        p = oracle.predict(e.heldout)
        assert np.array_equal(p.argmax(-1), e.heldout_choices[u])
        assert np.array_equal(p.sum(-1), np.ones(e.n_heldout)) and set(np.unique(p)) <= {0, 1}
        assert oracle.predict(e.rounds[u, 0]).argmax() == e.choices[u, 0]


def test_random_is_uniform_and_recommends_every_option() -> None:
    x = FLIGHT.sample(np.random.default_rng(0), (3000, 3))
    a, b = RandomAssistant(seed=1), RandomAssistant(seed=1)
    assert np.array_equal(a.predict(x), np.full((3000, 3), 1 / 3))
    recs = a.recommend(x)
    assert np.array_equal(recs, b.recommend(x))
    assert np.allclose(np.bincount(recs, minlength=3) / 3000, 1 / 3, atol=0.03)
    assert 0 <= int(a.recommend(x[0])) < 3


def test_cheapest_picks_the_lowest_price_and_splits_ties() -> None:
    cheapest = CheapestAssistant(FLIGHT)
    x = FLIGHT.normalise(np.array([[[0, 0, 0, 5], [1, 1, 1, 2], [2, 2, 2, 9]],
                                   [[0, 0, 0, 3], [1, 1, 1, 3], [2, 2, 2, 4]]]))
    assert np.allclose(cheapest.predict(x), [[0, 1, 0], [0.5, 0.5, 0]])
    assert cheapest.recommend(x).tolist() == [1, 0]
    assert CheapestAssistant(HOTEL).price == 1
    with pytest.raises(ValueError, match="price"):
        CheapestAssistant(flight_variant(2))


def test_prior_majority_is_the_bayesian_prior_and_never_learns() -> None:
    e = make_eval_set(FLIGHT, seed=0, n_users=3, n_heldout=40)
    weights = hypothesis_grid(4)
    prior = uniform_log_prior(len(weights))
    assistant = PriorMajorityAssistant(HypothesisGrid(4))
    expected = predictive(prior, weights, e.heldout, ChoiceModel())
    assert np.allclose(assistant.predict(e.heldout), expected)
    assistant.observe(e.rounds[0, 0], 0, int(e.choices[0, 0]))
    assert np.allclose(assistant.predict(e.heldout), expected)
    # the cache must not answer for other options
    other = e.heldout[::-1].copy()
    assert np.allclose(assistant.predict(other), expected[::-1])
    x = e.rounds[1, 2]
    assert np.allclose(assistant.predict(x), predictive(prior, weights, x, ChoiceModel()))


def test_make_assistant_builds_every_name() -> None:
    for name in ASSISTANT_NAMES:
        assistant = make_assistant(name, FLIGHT)
        assert assistant.name == name
    assert make_assistant("oracle", HOTEL).knows_user
    model = ChoiceModel("softmax", beta=2.0)
    assert make_assistant("bayesian", HOTEL, choice_model=model).choice_model == model
    with pytest.raises(ValueError, match="assistant must be one of"):
        make_assistant("gpt", FLIGHT)

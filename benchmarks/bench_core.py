"""The C++ core against a vectorised NumPy implementation of the same algorithm, in one run.

Both evaluate the deterministic Bayesian assistant on the paper's protocol: every user starts
from a uniform prior, and before any round and after each of 5 rounds the assistant recommends
on 100 held-out option sets. The NumPy version is the same algorithm as the core's, vectorised
over hypotheses and held-out sets: each hypothesis's choice on every held-out set computed once
(one matrix product), the posterior kept as the index list of surviving hypotheses (it is
uniform on them), the held-out predictive counted with one ``bincount`` per round. Options are
flights drawn uniformly from the flight domain's grids; both must give the same accuracies.

Cases: (1) F = 4, all 624 users; (2) F = 8 (390,624 hypotheses), 200 users; (3) the teaching
data's batch: 100,000 dialogues of 5 rounds, F = 4, no held-out sets (the core only).

    python benchmarks/bench_core.py               # all cores
    python benchmarks/bench_core.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
from bayesflight import HypothesisGrid, run_protocol
from bayesflight import reference as ref
from bayesflight.domains import flight_variant
from machine import cpu_name

ROUNDS, OPTIONS, HELDOUT = 5, 3, 100


def numpy_protocol(weights: np.ndarray, users: np.ndarray, rounds: np.ndarray,
                   heldout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(heldout_accuracy (U, R + 1), round_predictive (U, R, K)) by NumPy, deterministic users."""
    n_users, n_rounds, k, _ = rounds.shape
    n_heldout, k2, _ = heldout.shape
    # each hypothesis's choice on each held-out set, in chunks of hypotheses: (M, N) bytes
    best = np.empty((len(weights), n_heldout), dtype=np.uint8)
    flat = heldout.reshape(-1, heldout.shape[-1]).T  # (F, N K2)
    for start in range(0, len(weights), 65536):
        u = (weights[start:start + 65536] @ flat).reshape(-1, n_heldout, k2)
        best[start:start + 65536] = ref.best_option(u)
    offsets = np.arange(n_heldout) * k2

    def heldout_recommendations(rows: np.ndarray) -> np.ndarray:
        counts = np.bincount((rows + offsets).ravel(), minlength=n_heldout * k2)
        return ref.recommend_from(counts.reshape(n_heldout, k2) / len(rows))

    prior = heldout_recommendations(best)
    truth = ref.best_option(ref.utilities(users, heldout)).T  # (U, N)
    accuracy = np.empty((n_users, n_rounds + 1))
    round_predictive = np.empty((n_users, n_rounds, k))
    for u in range(n_users):
        alive = np.arange(len(weights))
        accuracy[u, 0] = np.mean(prior == truth[u])
        for r in range(n_rounds):
            x = rounds[u, r]
            choice_of_alive = ref.best_option(weights[alive] @ x.T)
            round_predictive[u, r] = np.bincount(choice_of_alive, minlength=k) / len(alive)
            alive = alive[choice_of_alive == ref.best_option(x @ users[u])]
            accuracy[u, r + 1] = np.mean(heldout_recommendations(best[alive]) == truth[u])
    return accuracy, round_predictive


def timed(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The best wall time of ``repeat`` calls, and the last result."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result




def compare(n_features: int, n_users: int, threads: int, repeat: int, seed: int) -> None:
    """Time both implementations on one protocol and check they agree."""
    rng = np.random.default_rng(seed)
    domain = flight_variant(n_features)
    grid = HypothesisGrid(n_features)
    users = (grid.weights if n_users >= len(grid)
             else grid.weights[rng.choice(len(grid), n_users, replace=False)])
    rounds = domain.sample(rng, (len(users), ROUNDS, OPTIONS))
    heldout = domain.sample(rng, (HELDOUT, OPTIONS))
    core_s, out = timed(lambda: run_protocol(grid, users, rounds, heldout, n_threads=threads),
                        repeat)
    numpy_s, (accuracy, round_predictive) = timed(
        lambda: numpy_protocol(grid.weights, users, rounds, heldout), 1)
    assert np.array_equal(out.heldout_accuracy, accuracy), "the two implementations disagree"
    np.testing.assert_allclose(out.round_predictive, round_predictive, rtol=1e-12)
    curve = ", ".join(f"{a:.2f}" for a in out.heldout_accuracy.mean(axis=0))
    print(f"F={n_features}: {len(grid):,} hypotheses, {len(users)} users x {ROUNDS} rounds x "
          f"{HELDOUT} held-out sets")
    print(f"  numpy {numpy_s:8.3f} s   core {core_s:7.3f} s   core is {numpy_s / core_s:6.1f}x "
          f"faster   (held-out accuracy by round: {curve})")


def teacher_batch(n_dialogues: int, threads: int, repeat: int, seed: int) -> None:
    """Dialogues per second for the teaching data's call: no held-out sets, F = 4."""
    rng = np.random.default_rng(seed)
    grid = HypothesisGrid(4)
    users = grid.weights[rng.integers(len(grid), size=n_dialogues)]
    rounds = flight_variant(4).sample(rng, (n_dialogues, ROUNDS, OPTIONS))
    seconds, _ = timed(lambda: run_protocol(grid, users, rounds, n_threads=threads), repeat)
    print(f"teaching batch: {n_dialogues:,} dialogues x {ROUNDS} rounds, F=4, no held-out sets")
    print(f"  core {seconds:7.3f} s = {n_dialogues / seconds:,.0f} dialogues/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="core threads (0: all cores)")
    parser.add_argument("--repeat", type=int, default=3, help="core runs; the best is kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cpu_name()}, {cores} cores available; numpy {np.__version__}, "
          f"python {platform.python_version()}; core threads: {args.threads or cores}")
    compare(4, 624, args.threads, args.repeat, args.seed)
    compare(8, 200, args.threads, args.repeat, args.seed)
    teacher_batch(100_000, args.threads, args.repeat, args.seed)


if __name__ == "__main__":
    main()

"""How local the update is: how well the Bayesian teacher's next statement follows from what a
turn could see, on two-option flight-2 dialogues of six rounds.

For each key (the previous statement and the round; with the signs of the last choice's
evidence; with its point differences) the most common next statement is counted right: the
share of turns it gets right is the best any rule of that key alone can do on these turns (an
upper bound: keys seen only a few times are fitted by their own turns).

    python docs/diagnostics/next_statement.py
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

import numpy as np
from bayesflight.domains import get_domain
from bayesflight.evidence import differences
from bayesflight.teacher import TeachingConfig, generate


def main() -> None:
    domain = get_domain("flight-2")
    config = TeachingConfig("bayesian", domain, 8192, 1, n_rounds=6, n_options=2,
                            users="train", statements=True)
    chunk = next(generate(config))
    levels = chunk.statements  # (N, R, F): the statement before each round
    seen = differences(domain, chunk.rounds, chunk.choices)  # (N, R, 1, F)

    def best_share(key: Callable[[int, int], object]) -> tuple[float, int]:
        table: dict[object, Counter] = defaultdict(Counter)
        for n in range(len(levels)):
            for r in range(levels.shape[1] - 1):
                table[key(n, r)][levels[n, r + 1].tobytes()] += 1
        hits = sum(c.most_common(1)[0][1] for c in table.values())
        return hits / sum(sum(c.values()) for c in table.values()), len(table)

    keys = {
        "the previous statement and the round": lambda n, r: (r, levels[n, r].tobytes()),
        "the previous statement and the evidence's signs":
            lambda n, r: (levels[n, r].tobytes(), np.sign(seen[n, r]).tobytes()),
        "the previous statement and the evidence":
            lambda n, r: (levels[n, r].tobytes(), seen[n, r].tobytes()),
    }
    for name, key in keys.items():
        share, n_keys = best_share(key)
        print(f"{name}: {share:.3f} of {levels.shape[0] * (levels.shape[1] - 1)} turns "
              f"({n_keys} keys)")


if __name__ == "__main__":
    main()

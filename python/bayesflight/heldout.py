"""Held-out option sets: the evaluation's seeded draw of them, and rounds drawn to avoid them.

An evaluation scores an assistant on its held-out sets, the same for every user, after the
interaction rounds. No interaction round of the evaluation set, and no round of the teaching
dialogues, may show one of them (as a multiset of options: in any order), or the held-out
score would reward memory; both draw their rounds with ``draw_avoiding``, the one test of
equality. Shapes: H held-out sets, K options per set, F features.
"""

from __future__ import annotations

import numpy as np

from .domains import Domain
from .sampling import rng

DEFAULT_HELDOUT_SETS = 100


def heldout_sets(
    domain: Domain, seed: int, n_heldout: int = DEFAULT_HELDOUT_SETS, n_options: int = 3
) -> np.ndarray:
    """The held-out option sets of the evaluation set with ``seed``: (n_heldout, n_options, F),
    each option uniform on the domain's grid (stream ``heldout``)."""
    return domain.sample(rng(seed, "heldout"), (n_heldout, n_options))


def set_codes(domain: Domain, sets: np.ndarray) -> np.ndarray:
    """Each option set (..., K, F) on the domain's grid as its options' codes, sorted: (..., K).

    An option's code is its levels read as the digits of one number, the first feature the
    most significant (the order of ``Domain.sample``'s grid); two sets have equal codes exactly
    when they are equal as multisets of options.
    """
    radix = np.cumprod(np.concatenate(([1], domain.n_levels[:0:-1])))[::-1]
    return np.sort(domain.grid_levels(sets) @ radix, axis=-1)


def heldout_clashes(domain: Domain, sets: np.ndarray, heldout: np.ndarray) -> np.ndarray:
    """Which option sets (..., K, F) equal a held-out set (H, K, F) as a multiset: (...,) bool."""
    codes, forbidden = set_codes(domain, sets), set_codes(domain, heldout)
    maybe = np.isin(codes[..., 0], forbidden[:, 0])  # the smallest code rules out most sets
    clash = np.zeros(codes.shape[:-1], dtype=bool)
    clash[maybe] = (codes[maybe][:, None, :] == forbidden).all(axis=-1).any(axis=-1)
    return clash


def draw_avoiding(
    domain: Domain,
    generator: np.random.Generator,
    shape: tuple[int, ...],
    heldout: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Option sets (*shape, F), shape ending in K, none equal to a ``heldout`` set (H, K', F).

    Returns (sets, number of sets redrawn). A set equal to a held-out one is drawn again from
    the next draws of ``generator``, in row-major order, until none is; sets of another size
    than the held-out ones (K != K') are never equal, so nothing is redrawn then.
    """
    sets = domain.sample(generator, shape)
    if len(heldout) == 0 or heldout.shape[1] != shape[-1]:
        return sets, 0
    bad = heldout_clashes(domain, sets, heldout)
    redrawn = 0
    while bad.any():
        redrawn += int(bad.sum())
        sets[bad] = domain.sample(generator, (int(bad.sum()), shape[-1]))
        bad[bad] = heldout_clashes(domain, sets[bad], heldout)
    return sets, redrawn

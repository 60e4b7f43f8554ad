"""The evaluation sets and the teaching users' pools for fixed seeds, pinned: a refactor of how
users are selected or held-out sets are drawn and avoided that changes the sets fails here.

``make_eval_set`` is pinned array by array (user rows, rounds, choices, held-out sets and
their answers), ``bayesflight make-eval`` file by file, and the teaching dialogues drawn from
the train and eval pools byte for byte (the digest test of the teaching data covers the
whole pool). Softmax choices compare utilities through exp; the seeds below were checked to
leave no draw within a rounding error of a boundary. A deliberate change of the data updates
these digests in its own commit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from bayesflight.cli import main
from bayesflight.domains import FLIGHT, HOTEL, get_domain
from bayesflight.evalset import make_eval_set
from bayesflight.reference import ChoiceModel

ARRAYS = ("user_ids", "user_weights", "rounds", "choices", "heldout", "heldout_choices")


def digest_of(evalset) -> str:
    h = hashlib.sha256()
    for name in ARRAYS:
        array = np.ascontiguousarray(getattr(evalset, name))
        h.update(f"{name}{array.shape}{array.dtype.str}".encode() + array.tobytes())
    return h.hexdigest()


SETS = {  # name: (domain, make_eval_set's arguments, digest)
    "flight-all": (FLIGHT, {"seed": 3},
                   "42530e456508abce143bd4376c5f3a50a65b47179469ed23587451b429d222b2"),
    "hotel-eval-epsilon": (
        HOTEL, {"seed": 5, "n_users": 30, "users": "eval", "n_heldout": 40,
                "user_model": ChoiceModel("epsilon", epsilon=0.2)},
        "dc019e4cef4cac420f41325d363a84f88aaa5b9e0f086a9dcaf63a6c703cb049"),
    "flight-train-softmax": (
        FLIGHT, {"seed": 2, "n_users": 50, "users": "train", "n_rounds": 3,
                 "user_model": ChoiceModel("softmax", beta=3.0)},
        "8f73f8549b6b20b7d52466233f823ed25dd64bb0c0861b767bc1e932ef9d3a8d"),
    # 2 features, 2 options: rounds equal to a held-out set are common, so redraws happen.
    "flight-2-redrawn": (
        get_domain("flight-2"), {"seed": 0, "n_rounds": 50, "options_per_round": 2},
        "3a37366895566547747fe61d2a71a9c8cced92cdbfa50a9193114ec69774317f"),
}
MAKE_EVAL_FILES = ("722bce1405c99bbf75d18319fdf54c1aff74bb4c127776665f2662b72a5b1e8d",
                   "5fafdcbb296d26a83fb6a9b571abd7a1314b98a39db25c5c1b6af7aec5f8a5d1")
POOL_DIGESTS = {"train": "28ac4e92a4664009f9d3705265b4b127418c986201ff79b2e3d46a68941d5692",
                "eval": "d445d4c51b5267de700c254e4696ae86214185fc0aa628e727868b10c7bfb7fa"}


@pytest.mark.parametrize("name", SETS)
def test_evaluation_sets_keep_their_contents(name: str) -> None:
    domain, kwargs, digest = SETS[name]
    assert digest_of(make_eval_set(domain, **kwargs)) == digest


def test_make_eval_files_keep_their_bytes(tmp_path: Path, capsys) -> None:
    assert main(["make-eval", "--domain", "hotel", "--users", "30", "--user-pool", "train",
                 "--heldout", "20", "--rounds", "3", "--seed", "4", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    digests = tuple(hashlib.sha256((tmp_path / kind / name).read_bytes()).hexdigest()
                    for kind, name in (("interaction", "hotel.jsonl"), ("heldout", "hotel.json")))
    assert digests == MAKE_EVAL_FILES


@pytest.mark.parametrize("pool", POOL_DIGESTS)
def test_teaching_data_from_a_user_pool_keeps_its_bytes(pool: str, tmp_path: Path,
                                                        capsys) -> None:
    out = tmp_path / "teach.jsonl"
    assert main(["generate", "--teacher", "bayesian", "--seed", "3", "--dialogues", "400",
                 "--user-pool", pool, "--out", str(out)]) == 0
    capsys.readouterr()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == POOL_DIGESTS[pool]

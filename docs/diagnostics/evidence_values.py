"""What a belief-mode model wrote as each feature's evidence, against the teacher's.

``bayesflight evaluate --mode belief --evidence`` says, feature by feature, how often the
model's evidence is exactly the teacher's. Where a feature is not read, this says how: over
every comparison the model wrote (the chosen option against each one passed over, rounds
after the first), the share whose difference is the teacher's, the share whose sign is, and
the differences it writes most often. A model that has a feature's direction but not its size
gets the signs right; one that has neither gets them at chance and often writes one value
whatever the options.

It reads an evaluation's output directory (``results.json`` and ``<model>.statements.json``)
and rebuilds the evaluation set from the configuration recorded there:

    python docs/diagnostics/evidence_values.py e-fo3ev2-s0
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
from bayesflight.commands.options import evalset_from_args
from bayesflight.evidence import evidence_texts, feature_clauses, split_evidence

VALUE = re.compile(r"([+-]?\d+)$")  # a clause's difference: "+4", "0", "9 - 5 = +4"


def difference(clause: str) -> int | None:
    """The difference a clause ends with, or None where it ends with none."""
    match = VALUE.search(clause)
    return int(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="an evaluate --mode belief --evidence output directory")
    parser.add_argument("--top", type=int, default=5,
                        help="how many of the most written differences to show")
    args = parser.parse_args()
    run = Path(args.run)
    results = run / "results.json"
    if not results.is_file():
        parser.error(f"run: {run} holds no results.json (an evaluate output directory)")
    config = json.loads(results.read_text(encoding="utf-8"))["config"]
    if config.get("mode") != "belief" or not config.get("evidence"):
        parser.error(f"run: {run} is not an evaluation in belief mode with evidence")
    said_files = sorted(run.glob("*.statements.json"))
    if len(said_files) != 1:
        parser.error(f"run: expected one <model>.statements.json in {run}, found "
                     f"{len(said_files)}")
    said = json.loads(said_files[0].read_text(encoding="utf-8"))

    evalset = evalset_from_args(argparse.Namespace(
        domain=config["domain"], seed=config["seed"], users=config["n_users"],
        rounds=config["n_rounds"], heldout=config["n_heldout"],
        options=config["options_per_round"], user_noise=config["user_noise"],
        user_pool=config["user_pool"], interactions=config["interactions"],
        heldout_file=config["heldout_file"]))
    domain = evalset.domain
    exact = evidence_texts(domain, evalset.rounds[:, :-1], evalset.choices[:, :-1],
                           config["evidence"])  # (users, rounds - 1): the choice before each
    pairs: list[list[tuple[int, int | None]]] = [[] for _ in domain.features]
    for user in range(evalset.n_users):
        turns = said[str(user)]
        for r in range(1, min(len(turns), evalset.n_rounds)):
            want = feature_clauses(domain, exact[user, r - 1])
            got = feature_clauses(domain, split_evidence(turns[r])[0])
            for f, (w, g) in enumerate(zip(want, got, strict=True)):
                g = (tuple(g) + ("",) * len(w))[:len(w)]  # a clause missing is none
                pairs[f] += [(difference(a), difference(b)) for a, b in zip(w, g, strict=True)]

    print(f"{said_files[0].name}: {config['domain']}, seed {config['seed']}, "
          f"{evalset.n_users} users, rounds 1-{evalset.n_rounds - 1}")
    print(f"{'feature':<18} {'comparisons':>11} {'exact':>6} {'sign':>6}  the model writes "
          f"most often (the teacher's range)")
    for feature, fp in zip(domain.features, pairs, strict=True):
        teacher = np.array([t for t, _ in fp])
        model = [m for _, m in fp]
        same = np.mean([t == m for t, m in fp])
        sign = np.mean([m is not None and np.sign(m) == np.sign(t) for t, m in fp])
        common = ", ".join(f"{'none' if v is None else f'{v:+d}'} x{n}"
                           for v, n in Counter(model).most_common(args.top))
        print(f"{feature.label:<18} {len(fp):>11} {same:>6.3f} {sign:>6.3f}  {common} "
              f"({teacher.min():+d} .. {teacher.max():+d})")


if __name__ == "__main__":
    main()

"""How much of each feature's value order the value tokens' embeddings keep, model by model.

``init-model --ordered-values`` adds to each value token's embedding its rank along a
direction of its feature's own, so that a random model starts out knowing that ``$190`` is
cheaper than ``$280``. Training moves the embeddings. For each feature this finds the
direction that best predicts a value's level from its embedding in the initial model (least
squares), then, for the initial model and each taught one, prints the Spearman correlation
between the levels and the embeddings' projections on that direction, and the mean distance
of the feature's embeddings from their mean (how far apart training has pushed them).
Features whose values are bare digits (the number of stops) have no tokens of their own and
are not listed.

A feature a model cannot read while its values keep their order (correlation near 1) is not
missing the order: the model has not learnt to use it.

    python docs/diagnostics/value_embeddings.py s128o s-fo3ev s-fo3ev2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from bayesflight.llm.scratch import value_ranks
from transformers import AutoModelForCausalLM, AutoTokenizer


def embeddings(path: str) -> np.ndarray:
    """The input embedding matrix of the model at ``path``: (vocabulary, hidden)."""
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model.get_input_embeddings().weight.detach().numpy()


def ranks_of(x: np.ndarray) -> np.ndarray:
    """Each entry's rank among ``x`` (0 the smallest)."""
    return np.argsort(np.argsort(x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("initial", help="the model init-model --ordered-values wrote")
    parser.add_argument("models", nargs="+", help="models taught from it")
    args = parser.parse_args()
    for path in [args.initial, *args.models]:
        if not Path(path, "config.json").is_file():
            parser.error(f"{path}: not a model directory (no config.json)")
    ranks = value_ranks(AutoTokenizer.from_pretrained(args.initial))
    if not ranks:
        parser.error(f"initial: {args.initial}'s tokenizer has no value tokens "
                     "(not a model of init-model)")
    tables = {path: embeddings(path) for path in [args.initial, *args.models]}
    width = max([len(path) for path in tables] + [len("+1.00 / 0.00")])
    print("per model: Spearman correlation of level and projection / mean spread")
    print(f"{'feature':<20} " + " ".join(f"{path:>{width}}" for path in tables))
    for label in sorted({label for _, label in ranks}):
        tokens = np.array([t for (t, lab) in ranks if lab == label])
        levels = np.array([r for (_, lab), r in ranks.items() if lab == label])
        start = tables[args.initial][tokens]
        axis = (start - start.mean(0)).T @ (levels - levels.mean())
        axis /= np.linalg.norm(axis)
        cells = []
        for table in tables.values():
            rows = table[tokens] - table[tokens].mean(0)
            rho = np.corrcoef(ranks_of(rows @ axis), ranks_of(levels))[0, 1]
            cells.append(f"{rho:+.2f} / {np.linalg.norm(rows, axis=1).mean():.2f}")
        print(f"{label:<20} " + " ".join(f"{c:>{width}}" for c in cells))


if __name__ == "__main__":
    main()

"""A reproduction's scale from a YAML or JSON file: any model, any size, no code change.

The file holds some of ``reproduce.Scale``'s fields; the others come from the scale named by
``--scale`` (its ``train`` settings are merged key by key, so a file can change only the
learning rate). For example, the paper's experiment on a 7B model::

    model: Qwen/Qwen2.5-7B-Instruct
    train_dialogues: 20000
    train: {full: true, lr: 2.0e-6, global_batch: 128, batch_size: 4}
    eval_users: 100
    eval_heldout: 100
    variants: [bayesian, oracle, bayesian-statements]
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .domains import get_domain
from .reproduce import Scale
from .variants import VARIANTS

# TrainConfig fields that reproduce sets for every run it starts, and how to set them instead.
RESERVED = {"data": "", "out": "", "target": "", "resume": "",
            "model": "give the config's model field or --model",
            "seed": "use --seed or --seeds", "device": "use --device",
            "progress": "use --no-progress", "report_to": "use --report-to",
            "run_name": "each run is named after its model (and seed)",
            "stage_key": "a variant sets it (bayesian-curriculum); list that variant"}
_COUNTS = ("train_dialogues", "eval_users", "eval_heldout", "train_rounds", "eval_rounds",
           "eval_batch_size")


def read_config(path: str | Path) -> dict[str, Any]:
    """The mapping in a ``.json``, ``.yaml`` or ``.yml`` file; ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"--config {path}: reading YAML needs PyYAML (pip install pyyaml); "
                             f"or give the same fields as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"--config {path}: not valid YAML "
                             f"({str(err).splitlines()[0]})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"--config {path}: not valid JSON ({err.msg}, line {err.lineno}); "
                             f"YAML files need a .yaml or .yml name") from None
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected a mapping of field names to values, "
                         f"got {type(data).__name__}")
    return data


def scale_from_config(base: Scale, fields: dict[str, Any], source: str = "--config") -> Scale:
    """``base`` with ``fields`` applied (``train`` merged), every field checked."""
    known = {f.name for f in dataclasses.fields(Scale)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {', '.join(unknown)}; a scale has "
                         f"{', '.join(sorted(known))}")
    changes = dict(fields)
    for name in _COUNTS:
        if name in changes:
            value = changes[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{source}: {name} must be a positive integer, got {value!r}")
    for name in ("name", "description", "model"):
        if name in changes and not (isinstance(changes[name], str) and changes[name]):
            raise ValueError(f"{source}: {name} must be a non-empty string")
    if "train" in changes:
        if not isinstance(changes["train"], dict):
            raise ValueError(f"{source}: train must be a mapping of training settings")
        changes["train"] = {**base.train, **changes["train"]}
        _check_train(changes["train"], source)
    for name, allowed in (("variants", VARIANTS), ("domains", None)):
        if name in changes:
            values = changes[name]
            if not (isinstance(values, list | tuple) and values
                    and all(isinstance(v, str) for v in values)):
                raise ValueError(f"{source}: {name} must be a non-empty list of names")
            for v in values:
                if allowed is not None and v not in allowed:
                    raise ValueError(f"{source}: variant {v!r} is not one of "
                                     f"{', '.join(allowed)}")
                if allowed is None:
                    get_domain(v)  # ValueError naming the domains
            changes[name] = tuple(values)
    if "soft_weight" in changes:
        w = changes["soft_weight"]
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w <= 1:
            raise ValueError(f"{source}: soft_weight must be a number in [0, 1], got {w!r}")
        changes["soft_weight"] = float(w)
    return dataclasses.replace(base, **changes)


def _check_train(train: dict[str, Any], source: str) -> None:
    """The training settings must make a TrainConfig (its own checks name the field)."""
    from .train import TrainConfig

    for reserved, how in RESERVED.items():
        if reserved in train:
            raise ValueError(f"{source}: train.{reserved} is set by reproduce itself"
                             + (f"; {how}" if how else ""))
    try:
        TrainConfig(data="-", out="-", **train)
    except TypeError as err:
        raise ValueError(f"{source}: train: {err}") from None
    except ValueError as err:
        raise ValueError(f"{source}: train: {err}") from None

"""The paper's released evaluation format: interaction/<domain>.jsonl and heldout/<domain>.json.

Interaction lines: ``{"idx", "reward_fn", "rounds": [{"options", "user_idx"}], "seed",
"features", "rounds_numpy"}``, one user per line. Held-out file: ``{"features",
"all_options", "user_idxs": [{"reward_fn", "idxs"}]}``. Options are text lines such as
``Flight 1: departure time: 02:00 PM, duration: 30 min, number of stops: 1, price: $370``.
Errors name the file, the line (of the JSONL, or of a JSON syntax error) and the field.

A file is refused, not trusted, when it contradicts itself: held-out ``idxs`` that are not
the options the entry's own ``reward_fn`` prefers (ties to the lowest index, as
``bayesflight.reference`` decides them) would score every assistant against a wrong truth,
and a reward function listed twice would silently count one user twice or drop one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .domains import FLIGHT, HOTEL, Domain, OptionParseError, flight_variant
from .evalset import EvalSet
from .fileio import atomic_open, check_input_file
from .reference import DEFAULT_LEVELS, UTILITY_TIE_TOL, ChoiceModel, best_option, grid_rows

KNOWN_DOMAINS = (FLIGHT, HOTEL, *(flight_variant(f) for f in range(2, 9) if f != 4))
# rounds_numpy must agree with the parsed option text to this tolerance.
VALUE_TOL = 1e-6


class EvalFileError(ValueError):
    """A malformed evaluation file; the message names the file, line and field."""


def _where(path: Path, line: int | None, field: str) -> str:
    return f"{path}" + (f", line {line}" if line is not None else "") + f", field {field!r}"


def _fail(path: Path, line: int | None, field: str, problem: str) -> EvalFileError:
    return EvalFileError(f"{_where(path, line, field)}: {problem}")


def _get(obj: Any, key: str, kind: type | tuple[type, ...], path: Path, line: int | None,
         field: str) -> Any:
    """obj[key], which must be of ``kind``; ``field`` is its dotted name for errors."""
    if not isinstance(obj, dict):
        raise _fail(path, line, field.rpartition(".")[0] or "<top>", "expected a JSON object")
    if key not in obj:
        raise _fail(path, line, field, "missing")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON true/false are Python ints; they are never an index, a seed or an idx.
    if not isinstance(value, kinds) or isinstance(value, bool):
        names = "/".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise _fail(path, line, field, f"expected {names}, got {type(value).__name__}")
    return value


def _list(value: Any, length: int | None, path: Path, line: int | None, field: str) -> list:
    if not isinstance(value, list):
        raise _fail(path, line, field, f"expected a list, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise _fail(path, line, field, f"expected {length} entries, got {len(value)}")
    return value


def _domain(features: Any, path: Path, line: int | None, domain: Domain | None) -> Domain:
    """The domain whose feature names are ``features`` (checked against ``domain`` if given)."""
    names = _list(features, None, path, line, "features")
    if domain is not None:
        if names != domain.feature_names:
            raise _fail(path, line, "features", f"{names} are not the {domain.name} features "
                        f"{domain.feature_names}")
        return domain
    for known in KNOWN_DOMAINS:
        if names == known.feature_names:
            return known
    raise _fail(path, line, "features", f"{names} match no known domain")


def _option_set(domain: Domain, texts: Any, k: int | None, path: Path, line: int | None,
                field: str) -> np.ndarray:
    """Options (K, F) from their text lines, which must be numbered 1..K in order."""
    texts = _list(texts, k, path, line, field)
    if len(texts) < 2:
        raise _fail(path, line, field, f"expected at least 2 options, got {len(texts)}")
    options = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise _fail(path, line, f"{field}[{i}]", "expected a string")
        try:
            index, x = domain.parse_option_line(text)
        except OptionParseError as err:
            raise _fail(path, line, f"{field}[{i}]", str(err)) from err
        if index != i:
            raise _fail(path, line, f"{field}[{i}]", f"option is numbered {index + 1}, "
                        f"expected {i + 1}")
        options.append(x)
    return np.array(options)


def _reward_fn(value: Any, n_features: int, path: Path, line: int | None, field: str) -> tuple[
    np.ndarray, int
]:
    """(weights (F,), row in the hypothesis grid) of a reward function on the default levels."""
    values = _list(value, n_features, path, line, field)
    levels = np.array(DEFAULT_LEVELS)
    for i, v in enumerate(values):
        if not (_is_number(v) and np.any(np.abs(levels - v) < 1e-9)):
            raise _fail(path, line, f"{field}[{i}]", f"{v!r} is not one of {DEFAULT_LEVELS}")
    weights = levels[np.abs(levels - np.array(values, dtype=np.float64)[:, None]).argmin(axis=1)]
    if not weights.any():
        raise _fail(path, line, field, "the all-zero reward function is not a user")
    return weights, int(grid_rows(weights))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _index(value: Any, k: int, path: Path, line: int | None, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < k:
        raise _fail(path, line, field, f"expected an option index in 0..{k - 1}, got {value!r}")
    return value


def _load_json(path: Path, text: str, line: int | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        at = line if line is not None else err.lineno
        raise EvalFileError(f"{path}, line {at}: invalid JSON: {err.msg}") from err


def _read_heldout(path: Path, domain: Domain | None) -> tuple[Domain, np.ndarray, dict]:
    """(domain, held-out sets (N, K, F), {grid row: preferred option per set (N,)})."""
    data = _load_json(path, path.read_text(encoding="utf-8"), None)
    if not isinstance(data, dict):
        raise _fail(path, None, "<top>", "expected a JSON object")
    domain = _domain(_get(data, "features", list, path, None, "features"), path, None, domain)
    sets = _list(_get(data, "all_options", list, path, None, "all_options"), None, path, None,
                 "all_options")
    if not sets:
        raise _fail(path, None, "all_options", "no option sets")
    heldout = [_option_set(domain, texts, None, path, None, f"all_options[{n}]")
               for n, texts in enumerate(sets)]
    k = len(heldout[0])
    for n, s in enumerate(heldout):
        if len(s) != k:
            raise _fail(path, None, f"all_options[{n}]", f"expected {k} options, got {len(s)}")
    heldout_sets = np.array(heldout)
    truth: dict[int, np.ndarray] = {}
    entry_of: dict[int, int] = {}
    for j, entry in enumerate(_get(data, "user_idxs", list, path, None, "user_idxs")):
        field = f"user_idxs[{j}]"
        w, row = _reward_fn(_get(entry, "reward_fn", list, path, None, f"{field}.reward_fn"),
                            domain.n_features, path, None, f"{field}.reward_fn")
        if row in entry_of:
            raise _fail(path, None, f"{field}.reward_fn", f"the same reward function as "
                        f"user_idxs[{entry_of[row]}]; each user must appear once")
        entry_of[row] = j
        idxs = _list(_get(entry, "idxs", list, path, None, f"{field}.idxs"), len(heldout), path,
                     None, f"{field}.idxs")
        truth[row] = np.array([_index(v, k, path, None, f"{field}.idxs[{n}]")
                               for n, v in enumerate(idxs)], dtype=np.int64)
        _check_truth(heldout_sets, w, truth[row], path, field)
    return domain, heldout_sets, truth


def _check_truth(heldout: np.ndarray, weights: np.ndarray, idxs: np.ndarray, path: Path,
                 field: str) -> None:
    """Refuse held-out answers (N,) that are not the best options (N, K, F) for ``weights``:
    the spec's deterministic choice, the lowest index among options within UTILITY_TIE_TOL."""
    u = heldout @ weights  # (N, K)
    best = best_option(u)
    wrong = np.flatnonzero(best != idxs)
    if not len(wrong):
        return
    n = int(wrong[0])
    tied = np.flatnonzero(u[n] >= u[n].max() - UTILITY_TIE_TOL)
    why = (f"option {best[n] + 1} is the best for this reward function" if len(tied) == 1 else
           f"options {', '.join(str(t + 1) for t in tied)} tie for the best and a tie goes to "
           f"the lowest, option {best[n] + 1}")
    raise _fail(path, None, f"{field}.idxs[{n}]",
                f"{idxs[n]} (option {idxs[n] + 1}) contradicts the entry's reward_fn: {why} "
                f"(utilities {np.round(u[n], 4).tolist()}); {len(wrong)} of {len(idxs)} "
                f"answers of this entry disagree")


def read_heldout_sets(path: str | os.PathLike, domain: Domain | None = None) -> np.ndarray:
    """The held-out option sets (N, K, F) of a held-out file in the paper's format, checked
    as ``load_eval_set`` checks it (against ``domain`` when given)."""
    return _read_heldout(Path(path), domain)[1]


def load_eval_set(
    interactions: str | os.PathLike,
    heldout: str | os.PathLike,
    domain: Domain | None = None,
    user_model: ChoiceModel = ChoiceModel(),
) -> EvalSet:
    """An EvalSet from the paper's files; the domain comes from the feature names unless given.

    Users are in file order; each must have an entry with the same reward function in the
    held-out file, whose ``idxs`` become ``heldout_choices``. ``seed`` is the lines' common
    seed, or None when they differ. ``user_model`` records how the choices were made.
    """
    ipath = check_input_file(interactions, "interactions file", "a JSONL file")
    hpath = check_input_file(heldout, "held-out file", "a JSON file")
    domain, heldout_sets, truth = _read_heldout(hpath, domain)
    k = heldout_sets.shape[1]
    weights, ids, rounds, choices, heldout_choices, seeds = [], [], [], [], [], set()
    n_rounds = None
    line_of_user: dict[int, int] = {}
    with open(ipath, encoding="utf-8") as handle:
        for line_no, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            user = _load_json(ipath, text, line_no)
            if not isinstance(user, dict):
                raise _fail(ipath, line_no, "<top>", "expected a JSON object")
            _get(user, "idx", int, ipath, line_no, "idx")
            _domain(_get(user, "features", list, ipath, line_no, "features"), ipath, line_no,
                    domain)
            w, row = _reward_fn(_get(user, "reward_fn", list, ipath, line_no, "reward_fn"),
                                domain.n_features, ipath, line_no, "reward_fn")
            if row in line_of_user:
                raise _fail(ipath, line_no, "reward_fn", f"the same reward function as line "
                            f"{line_of_user[row]}; each user must appear once")
            line_of_user[row] = line_no
            seed = _get(user, "seed", (int, type(None)), ipath, line_no, "seed")
            user_rounds = _list(_get(user, "rounds", list, ipath, line_no, "rounds"), n_rounds,
                                ipath, line_no, "rounds")
            if not user_rounds:
                raise _fail(ipath, line_no, "rounds", "no rounds")
            n_rounds = len(user_rounds)
            xs, ys = [], []
            for r, rnd in enumerate(user_rounds):
                xs.append(_option_set(domain, _get(rnd, "options", list, ipath, line_no,
                                                   f"rounds[{r}].options"),
                                      k, ipath, line_no, f"rounds[{r}].options"))
                ys.append(_index(_get(rnd, "user_idx", int, ipath, line_no,
                                      f"rounds[{r}].user_idx"), k, ipath, line_no,
                                 f"rounds[{r}].user_idx"))
            numeric = _get(user, "rounds_numpy", list, ipath, line_no, "rounds_numpy")
            try:
                values = np.array(numeric, dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise _fail(ipath, line_no, "rounds_numpy", "expected numbers in nested lists "
                            f"of shape ({n_rounds}, {k}, {domain.n_features})") from err
            if values.shape != (n_rounds, k, domain.n_features) or not np.allclose(
                values, xs, rtol=0, atol=VALUE_TOL
            ):
                raise _fail(ipath, line_no, "rounds_numpy", "does not match the options' text")
            if row not in truth:
                raise _fail(ipath, line_no, "reward_fn", f"no user with this reward function "
                            f"in {hpath}")
            weights.append(w)
            ids.append(row)
            rounds.append(xs)
            choices.append(ys)
            heldout_choices.append(truth[row])
            seeds.add(seed)
    if not ids:
        raise EvalFileError(f"{ipath}: no users")
    return EvalSet(
        domain=domain,
        user_weights=np.array(weights),
        user_ids=np.array(ids, dtype=np.int64),
        rounds=np.array(rounds),
        choices=np.array(choices, dtype=np.int64),
        heldout=heldout_sets,
        heldout_choices=np.array(heldout_choices),
        seed=seeds.pop() if len(seeds) == 1 else None,
        user_model=user_model,
    )


def eval_file_paths(out_dir: str | os.PathLike, domain: Domain) -> tuple[Path, Path]:
    """Where the files of ``domain`` live under ``out_dir``: (interactions, held-out)."""
    root = Path(out_dir)
    return root / "interaction" / f"{domain.name}.jsonl", root / "heldout" / f"{domain.name}.json"


def _option_texts(domain: Domain, options: np.ndarray) -> list[str]:
    return [domain.option_line(x, k) for k, x in enumerate(options)]


def write_eval_files(evalset: EvalSet, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``evalset`` in the paper's format under ``out_dir`` (creating the folders),
    atomically; returns (interactions path, held-out path). ``idx`` is the user's grid row."""
    domain = evalset.domain
    ipath, hpath = eval_file_paths(out_dir, domain)
    for path in (ipath, hpath):
        path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(ipath) as handle:
        for u in range(evalset.n_users):
            line = {
                "idx": int(evalset.user_ids[u]),
                "reward_fn": evalset.user_weights[u].tolist(),
                "rounds": [{"options": _option_texts(domain, x), "user_idx": int(y)}
                           for x, y in zip(evalset.rounds[u], evalset.choices[u], strict=True)],
                "seed": evalset.seed,
                "features": domain.feature_names,
                "rounds_numpy": evalset.rounds[u].tolist(),
            }
            handle.write(json.dumps(line) + "\n")
    with atomic_open(hpath) as handle:
        json.dump({
            "features": domain.feature_names,
            "all_options": [_option_texts(domain, x) for x in evalset.heldout],
            "user_idxs": [{"reward_fn": w.tolist(), "idxs": y.tolist()}
                          for w, y in zip(evalset.user_weights, evalset.heldout_choices,
                                          strict=True)],
        }, handle)
        handle.write("\n")
    return ipath, hpath

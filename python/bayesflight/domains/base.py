"""What a recommendation domain is: named features, each a grid of levels with a text per level.

Options travel through bayesflight as arrays of *normalised* feature values in [0, 1]
(level / (number of levels - 1)), the form the Bayesian core computes with; a domain
turns them into the released text and back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class OptionParseError(ValueError):
    """Text that does not describe an option of the domain."""


@dataclass(frozen=True)
class Feature:
    """One attribute of an option: ``name`` as in the released files, ``label`` as in the text.

    ``lower`` and ``higher`` name a preference for its low or high levels in a belief
    statement (``price: cheaper``); neither holds a digit, so that the answer stays the last
    number of a taught turn.
    """

    name: str
    label: str
    values: tuple[str, ...]
    lower: str = "lower"
    higher: str = "higher"

    @property
    def n_levels(self) -> int:
        return len(self.values)

    def text(self, level: int) -> str:
        """``label: value``, e.g. ``departure time: 02:00 PM``."""
        return f"{self.label}: {self.values[level]}"


@dataclass(frozen=True)
class Domain:
    """A named list of features and the noun its options go by (``flight``, ``hotel``)."""

    name: str
    noun: str
    features: tuple[Feature, ...]

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def n_levels(self) -> np.ndarray:
        """Levels per feature: (F,)."""
        return np.array([f.n_levels for f in self.features])

    def label(self, index: int) -> str:
        """The 0-based option ``index`` as the text names it: ``Flight 1`` for 0."""
        return f"{self.noun.capitalize()} {index + 1}"

    def levels(self, options: np.ndarray) -> np.ndarray:
        """Normalised values (..., F) to integer levels (..., F); off-grid values raise."""
        x = np.asarray(options, dtype=np.float64)
        if x.shape[-1:] != (self.n_features,):
            raise ValueError(f"options must have {self.n_features} features in the last axis, "
                             f"got shape {x.shape}")
        scaled = x * (self.n_levels - 1)
        lv = np.rint(scaled)  # cast only once known finite: NaN would become garbage
        if not (np.all(np.abs(scaled - lv) < 1e-6) and np.all(lv >= 0)
                and np.all(lv <= self.n_levels - 1)):
            raise ValueError(f"options must lie on the {self.name} grid of normalised levels")
        return lv.astype(np.int64)

    def grid_levels(self, options: np.ndarray) -> np.ndarray:
        """Integer levels (..., F) of options known to lie on the grid (..., F), unchecked: the
        fast form of ``levels`` for options drawn by ``sample`` or already checked."""
        return np.rint(options * (self.n_levels - 1)).astype(np.int64)

    def normalise(self, levels: np.ndarray) -> np.ndarray:
        """Integer levels (..., F) to normalised values (..., F)."""
        return np.asarray(levels, dtype=np.float64) / (self.n_levels - 1)

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Options with each feature uniform on its grid: normalised values, shape + (F,)."""
        lv = rng.integers(0, self.n_levels, size=(*shape, self.n_features))
        return self.normalise(lv)

    def describe(self, option: np.ndarray) -> str:
        """One option's features as text: ``departure time: 02:00 PM, ..., price: $370``."""
        lv = self.levels(option)
        if lv.ndim != 1:
            raise ValueError(f"option must have shape ({self.n_features},), got {lv.shape}")
        return ", ".join(f.text(int(v)) for f, v in zip(self.features, lv, strict=True))

    def option_line(self, option: np.ndarray, index: int) -> str:
        """The released evaluation-file form: ``Flight 1: departure time: ..., price: $370``."""
        return f"{self.label(index)}: {self.describe(option)}"

    def parse(self, text: str) -> np.ndarray:
        """Inverse of :meth:`describe`: normalised values (F,). Raises OptionParseError."""
        rest = text.strip()
        levels = []
        for i, feature in enumerate(self.features):
            head = f"{feature.label}: "
            if not rest.startswith(head):
                raise OptionParseError(f"expected {head!r} in {text!r}")
            rest = rest[len(head):]
            last = i == self.n_features - 1
            # longest value first: amenities such as "free parking, free breakfast, and pool"
            # contain the separator and share prefixes.
            for level in sorted(range(feature.n_levels), key=lambda v: -len(feature.values[v])):
                value = feature.values[level]
                tail = rest[len(value):]
                if rest.startswith(value) and (tail == "" if last else tail.startswith(", ")):
                    levels.append(level)
                    rest = tail if last else tail[2:]
                    break
            else:
                raise OptionParseError(f"no {feature.label} value matches in {text!r}")
        return self.normalise(np.array(levels))

    def parse_option_line(self, line: str) -> tuple[int, np.ndarray]:
        """Inverse of :meth:`option_line`: (0-based index, normalised values (F,))."""
        head, sep, body = line.strip().partition(": ")
        noun, _, number = head.partition(" ")
        if not sep or noun != self.noun.capitalize() or not number.isdigit() or int(number) < 1:
            raise OptionParseError(f"expected '{self.noun.capitalize()} N: ...' in {line!r}")
        return int(number) - 1, self.parse(body)

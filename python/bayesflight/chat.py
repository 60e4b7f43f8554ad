"""The paper's chat format: the exact texts of the instruction, the options, feedback and answers.

The teacher writes dialogues with these functions and the LLM assistant prompts with them,
so that training and evaluation see byte-identical turns.
"""

from __future__ import annotations

import re

import numpy as np

from .domains import Domain, OptionParseError

Message = dict[str, str]


def instruction(domain: Domain) -> str:
    """The task statement that opens every conversation."""
    n = domain.noun
    return (
        f"Help me select the best {n}s for my trips. I have specific preferences for what I "
        f"like and dislike in a {n}, and these preferences remain the same. You need to figure "
        f"out my preferences and select the best {n}s for me. Use your best judgment if you are "
        f"unsure. Do not say you need more information."
    )


def question(domain: Domain, options: np.ndarray) -> str:
    """``Which flight is the best option?`` followed by the options (K, F), one block each."""
    blocks = [f"{domain.label(k)}:\n{domain.describe(x)}" for k, x in enumerate(options)]
    return f"Which {domain.noun} is the best option?\n\n" + "\n".join(blocks)


def parse_question(domain: Domain, text: str) -> np.ndarray:
    """Inverse of :func:`question` at the end of a user turn: the options (K, F), normalised
    as ``domain.parse`` gives them. Raises OptionParseError when the turn asks no question or
    an option does not parse."""
    head = f"Which {domain.noun} is the best option?\n\n"
    if head not in text:
        raise OptionParseError(f"expected {head.strip()!r} in the user turn")
    lines = text.rsplit(head, 1)[1].split("\n")
    if len(lines) < 4 or len(lines) % 2:
        raise OptionParseError(f"expected a label line and a feature line per option, got "
                               f"{len(lines)} lines")
    for k, label in enumerate(lines[::2]):
        if label != f"{domain.label(k)}:":
            raise OptionParseError(f"expected {domain.label(k)!r}:, got {label!r}")
    return np.stack([domain.parse(line) for line in lines[1::2]])


def feedback(domain: Domain, recommended: int, preferred: int) -> str:
    """The user's verdict on the previous recommendation (0-based indices)."""
    head = f"Your option {domain.label(recommended)} is"
    if recommended == preferred:
        return f"{head} correct."
    return f"{head} incorrect. I prefer {domain.label(preferred)}."


def answer_prefix(domain: Domain, statement: str | None = None) -> str:
    """The assistant's answer up to the option number: ``The best option is Flight ``; after
    ``statement`` and a space when one is given (belief-state teaching)."""
    prefix = f"The best option is {domain.noun.capitalize()} "
    return prefix if statement is None else f"{statement} {prefix}"


def answer(domain: Domain, choice: int, statement: str | None = None) -> str:
    """``The best option is Flight N.`` for the 0-based ``choice`` (after ``statement``)."""
    return f"{answer_prefix(domain, statement)}{choice + 1}."


def user_turn(
    domain: Domain, options: np.ndarray, previous: tuple[int, int] | None = None
) -> str:
    """A user turn: the instruction (first turn) or feedback on ``previous`` =
    (recommended, preferred), then the question about ``options``."""
    head = instruction(domain) if previous is None else feedback(domain, *previous)
    return f"{head}\n\n{question(domain, options)}"


def conversation(
    domain: Domain,
    rounds: np.ndarray,
    recommendations: np.ndarray,
    choices: np.ndarray,
    next_options: np.ndarray | None = None,
    statements: list[str] | None = None,
) -> list[Message]:
    """The chat after the given rounds (R, K, F) with the assistant's ``recommendations`` (R,)
    and the user's ``choices`` (R,); with ``next_options``, ends on the next user turn; with
    ``statements`` (R,), each answer follows its belief statement."""
    messages: list[Message] = []
    previous = None
    said = [None] * len(rounds) if statements is None else list(statements)
    for options, rec, pref, stated in zip(rounds, recommendations, choices, said, strict=True):
        messages.append({"role": "user", "content": user_turn(domain, options, previous)})
        messages.append({"role": "assistant", "content": answer(domain, int(rec), stated)})
        previous = (int(rec), int(pref))
    if next_options is not None:
        messages.append({"role": "user", "content": user_turn(domain, next_options, previous)})
    return messages


_ANSWER = re.compile(r"\b(?:flight|hotel|option)\s*#?\s*(\d+)", re.IGNORECASE)


def parse_answer(text: str, n_options: int) -> int | None:
    """The 0-based option a free-text answer names first, or None when it names none in range."""
    for match in _ANSWER.finditer(text):
        k = int(match.group(1)) - 1
        if 0 <= k < n_options:
            return k
    return None

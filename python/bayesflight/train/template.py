"""The model's chat template with ``{% generation %}`` markers around exactly the tokens that
bayesflight trains on, so that TRL's ``SFTTrainer(assistant_only_loss=True)`` (and anything
else that reads transformers' ``return_assistant_tokens_mask``) labels the same JSONL the same
way.

bayesflight labels each assistant turn's content and the end-of-turn token after it, not the
generation prompt before it nor the newline after it (see ``data.py``). A template that has no
markers yet is rewritten where its message expression is the ChatML one (SmolLM2, Qwen2.5 and
the like: ``'<|im_start|>' + role + '\\n' + content + '<|im_end|>' + '\\n'``); the assistant
branch is split so that the markers enclose ``content + '<|im_end|>'``. Whatever the source,
the template is used only after checking, on the training data itself, that it renders the
same text as the model's own template and that its assistant mask equals bayesflight's labels
token for token.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

TEMPLATE_FILE = "chat_template_training.jinja"
CHECKED_DIALOGUES = 20  # dialogues of the training data the template is checked on

_MARKERS = re.compile(r"\{%-?\s*generation\s*-?%\}")
_NEWLINE = r"(?:\n|\\n)"
_MESSAGE = re.compile(
    r"\{\{(?P<open>-?)\s*'<\|im_start\|>'\s*\+\s*(?P<role>message(?:\['role'\]|\[\"role\"\]|\.role))"
    rf"\s*\+\s*'(?P<nl>{_NEWLINE})'\s*\+\s*"
    r"(?P<content>message(?:\['content'\]|\[\"content\"\]|\.content))\s*\+\s*"
    rf"'<\|im_end\|>(?P<nl_in>{_NEWLINE})?'(?:\s*\+\s*'(?P<nl_after>{_NEWLINE})')?"
    r"\s*(?P<close>-?)\}\}")


def has_generation_markers(template: str) -> bool:
    return _MARKERS.search(template) is not None


def training_template(template: str) -> str | None:
    """``template`` with ``{% generation %}`` markers: itself if it has them, the rewritten
    ChatML template, or None when bayesflight does not know where to put them."""
    if has_generation_markers(template):
        return template
    matches = list(_MESSAGE.finditer(template))
    if len(matches) != 1:
        return None
    m = matches[0]
    newline = m.group("nl")
    if (m.group("nl_in") or m.group("nl_after")) != newline or (
            m.group("nl_in") and m.group("nl_after")):
        return None
    role, content, original = m.group("role"), m.group("content"), m.group(0)
    plain = f"{{{{ {original[2 + len(m.group('open')):-2 - len(m.group('close'))].strip()} }}}}"
    rewritten = (
        f"{{%{m.group('open')} if {role} == 'assistant' %}}"
        f"{{{{ '<|im_start|>' + {role} + '{newline}' }}}}"
        f"{{% generation %}}{{{{ {content} + '<|im_end|>' }}}}{{% endgeneration %}}"
        f"{{{{ '{newline}' }}}}"
        f"{{% else %}}{plain}{{% endif {m.group('close')}%}}"
    )
    return template[:m.start()] + rewritten + template[m.end():]


def check_training_template(tokenizer: Any, template: str,
                            records: list[dict[str, Any]]) -> str | None:
    """None if ``template`` renders every record as the tokenizer's own template does and
    marks exactly the tokens bayesflight labels; otherwise what differs."""
    from .data import tokenize_dialogues

    records = [r for r in records if any(m["role"] == "assistant" for m in r["messages"])]
    if not records:
        return "no dialogue with an assistant turn to check it on"
    try:
        ours = tokenize_dialogues(records, tokenizer, max_len=1 << 30,
                                  source="template check", workers=1)
    except ValueError as err:
        return str(err)
    for i, (record, example) in enumerate(zip(records, ours.examples, strict=True)):
        messages = record["messages"]
        if tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template) \
                != tokenizer.apply_chat_template(messages, tokenize=False):
            return f"dialogue {i + 1} renders differently from the model's own template"
        marked = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=True,
                                               return_dict=True,
                                               return_assistant_tokens_mask=True)
        if not np.array_equal(np.asarray(marked["input_ids"]), example.input_ids):
            return f"dialogue {i + 1} tokenises differently through the template"
        mask = np.asarray(marked["assistant_masks"], dtype=bool)
        if not np.array_equal(mask, example.labelled):
            return (f"dialogue {i + 1}: the template marks {int(mask.sum())} tokens, "
                    f"bayesflight labels {int(example.labelled.sum())}, not the same ones")
    return None


def first_dialogues(path: str | Path, n: int = CHECKED_DIALOGUES) -> list[dict[str, Any]]:
    """The first ``n`` records of a JSONL file of dialogues."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                records.append(json.loads(line))
                if len(records) == n:
                    break
    return records


def write_training_template(directory: str | Path, tokenizer: Any,
                            records: list[dict[str, Any]]) -> tuple[Path | None, str]:
    """Write the training template, checked on ``records``, to
    ``directory/chat_template_training.jinja``; returns (its path or None, what was done or
    why not)."""
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, dict):
        own = own.get("default")
    if not isinstance(own, str):
        return None, "the tokenizer has no chat template"
    template = training_template(own)
    if template is None:
        return None, ("the chat template is not one bayesflight knows how to mark with "
                      "{% generation %}; see the README on training the same data with TRL")
    problem = check_training_template(tokenizer, template, records)
    if problem is not None:
        return None, f"the marked chat template was not written: {problem}"
    path = Path(directory) / TEMPLATE_FILE
    path.write_text(template, encoding="utf-8")
    return path, (f"its assistant mask equals bayesflight's labels on {len(records)} of "
                  f"{len(records)} dialogues checked")

"""LLM tests (models, scoring, evaluation, reproduce): they need the ``llm`` extra."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the LLM tests need the llm extra: pip install '.[llm]'")
pytest.importorskip("transformers", reason="the LLM tests need the llm extra: "
                    "pip install '.[llm]'")

"""Training tests: they need the ``llm`` extra (torch), and run tiny models on one thread."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the training tests need the llm extra: "
                            "pip install '.[llm]'")


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny models on one thread: on a busy machine, more threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

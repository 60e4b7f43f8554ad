"""What differs between the transformers versions bayesflight supports, detected, not guessed.

transformers renamed the forward's cache keyword (``past_key_values`` up to 5.23, ``cache``
from 5.24, with the old name a deprecated alias) and only newer versions accept a 2-D boolean
``logits_to_keep``. Older versions do not fail on the unknown keyword: they drop it into
``**kwargs`` and run without the cache, which silently gives other (wrong) answers. So the
keyword is read off the model's own forward signature, and logits at chosen positions are
taken by a hook on the output layer, which works the same on every version.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import torch
from torch import nn


def base_model(model: Any) -> Any:
    """The transformers model under a PEFT wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


@contextmanager
def peft_wrapping() -> Iterator[None]:
    """Around PEFT's wrapping of a transformers model (``get_peft_model``,
    ``PeftModel.from_pretrained``): PEFT reads ``is_gradient_checkpointing``, which
    transformers 5.24 deprecated with a FutureWarning that says nothing to a bayesflight user.
    Only that warning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing",
                                category=FutureWarning)
        yield


@cache
def _cache_keyword(model_class: type) -> str:
    parameters = inspect.signature(model_class.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in parameters:
            return name
    raise TypeError(f"{model_class.__name__}.forward takes neither `cache` nor "
                    f"`past_key_values`; bayesflight cannot pass it a KV cache")


def cache_keyword(model: Any) -> str:
    """The name under which ``model``'s forward takes a KV cache: ``cache`` or
    ``past_key_values``."""
    return _cache_keyword(type(base_model(model)))


def with_cache(model: Any, cache_object: Any) -> dict[str, Any]:
    """Forward keyword arguments that hand ``model`` the KV cache ``cache_object``."""
    return {cache_keyword(model): cache_object, "use_cache": True}


@contextmanager
def rows_of_output_layer(model: Any, keep: torch.Tensor):
    """Within this block, ``model``'s output layer projects only the positions where the
    boolean mask ``keep`` (B, T) is True, so the forward's ``logits`` are (P, V).

    The same result as transformers' ``logits_to_keep=keep`` (5.21+), on any version: the
    forward is run with ``logits_to_keep=0`` (all positions, a view) and a pre-hook on the
    output layer selects the rows, so whatever the model does after the projection (a
    final soft-capping, a scale) still applies.
    """
    head = base_model(model).get_output_embeddings()
    if not isinstance(head, nn.Module):
        raise TypeError(f"{type(model).__name__} has no output layer to project from")

    def select(_module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        hidden = args[0]
        if hidden.shape[:2] != keep.shape:
            raise ValueError(f"the output layer got hidden states {tuple(hidden.shape)}; the "
                             f"mask of positions to keep is {tuple(keep.shape)}")
        return (hidden[keep], *args[1:])

    handle = head.register_forward_pre_hook(select)
    try:
        yield
    finally:
        handle.remove()


def logits_at(net: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              keep: torch.Tensor, model: Any = None) -> torch.Tensor:
    """The logits (P, V) at the positions where ``keep`` (B, T) is True, computing no others.

    ``net`` is what to call (the model, or its DDP/FSDP wrapper); ``model`` the transformers
    or PEFT model inside it (``net`` itself when omitted).
    """
    with rows_of_output_layer(net if model is None else model, keep):
        return net(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=0).logits

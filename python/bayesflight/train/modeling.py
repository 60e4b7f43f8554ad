"""What gets trained: LoRA adapters on the linear layers (all, or the top N decoder layers), or
every weight (full fine-tuning)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..llm.compat import peft_wrapping
from .config import TrainConfig


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The name and list of the decoder blocks: the ModuleList with ``num_hidden_layers`` items."""
    n = getattr(model.config, "num_hidden_layers", None)
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return name, module
    raise ValueError(f"cannot find the {n} decoder layers of {type(model).__name__}")


def _adaptable(module: nn.Module) -> bool:
    from transformers.pytorch_utils import Conv1D

    return isinstance(module, (nn.Linear, Conv1D))


def lora_targets(model: nn.Module, top_layers: int | None) -> str | list[str]:
    """PEFT ``target_modules``: ``all-linear``, or the linear layers of the top N blocks."""
    if top_layers is None:
        return "all-linear"
    prefix, layers = decoder_layers(model)
    if top_layers > len(layers):
        raise ValueError(f"lora_layers={top_layers} but the model has {len(layers)} decoder "
                         f"layers")
    first = len(layers) - top_layers
    return [f"{prefix}.{first + i}.{name}"
            for i, layer in enumerate(layers[first:])
            for name, module in layer.named_modules() if _adaptable(module)]


def prepare(model: Any, config: TrainConfig) -> Any:
    """Make ``model`` trainable as ``config`` asks; returns the model to train (maybe wrapped)."""
    model.config.use_cache = False
    if config.gradient_checkpointing:  # non-reentrant: works with frozen inputs and DDP
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # the name since transformers 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if config.full:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    targets = lora_targets(model, config.lora_layers)
    smallest = min((min(m.weight.shape) for m in model.modules() if _adaptable(m)
                    and m is not model.get_output_embeddings()), default=0)
    if config.lora_r > smallest:
        raise ValueError(f"lora r={config.lora_r} exceeds the smallest dimension ({smallest}) "
                         f"of the model's linear layers")
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=targets,
                      bias="none", task_type="CAUSAL_LM")
    with peft_wrapping():
        return get_peft_model(model, lora)


def trainable(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The (name, parameter) pairs that the optimizer updates, in a fixed order."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def describe(model: nn.Module, config: TrainConfig) -> str:
    """``LoRA r=16 ... : 4.88M of 140M parameters trained`` for the log, both counts to three
    significant figures (a full run of a 1.14M model would otherwise read 1.14M of 1.1M)."""
    n_train = sum(p.numel() for _, p in trainable(model))
    n_all = sum(p.numel() for p in model.parameters())
    if config.full:
        kind = "full fine-tuning"
    else:
        where = "all layers" if config.lora_layers is None else f"top {config.lora_layers} layers"
        kind = (f"LoRA r={config.lora_r} alpha={config.lora_alpha:g} "
                f"dropout={config.lora_dropout:g} on the linear layers of {where}")
    return f"{kind}: {n_train / 1e6:.3g}M of {n_all / 1e6:.3g}M parameters trained"

"""How the model is spread over training processes: DDP replicas, or FSDP shards.

DDP keeps a whole copy of the model, gradients and optimizer state on every process, which
suits LoRA and small models. FSDP (PyTorch's ``fully_shard``, one unit per decoder layer)
keeps only a 1/N shard of each on every process, which is what lets full fine-tuning of a
large model fit. The loop sees one interface for both: wrap, gradient sync, and full
(unsharded) copies of weights and optimizer state for checkpoints and the saved model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .distributed import Dist


def wrap(model: nn.Module, config: TrainConfig, dist: Dist) -> nn.Module:
    """The module to run forward and backward on: ``model`` itself (one process, or FSDP,
    which shards ``model`` in place) or a DDP wrapper around it.

    Build the optimizer after this: FSDP replaces the parameters with sharded ones.
    """
    if config.fsdp:
        from torch.distributed.fsdp import fully_shard

        from .modeling import decoder_layers

        if dist.enabled:
            for layer in decoder_layers(model)[1]:
                fully_shard(layer)
            fully_shard(model)
        return model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    return model


def is_sharded(model: nn.Module) -> bool:
    """Whether ``fully_shard`` was applied to ``model``."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


@contextlib.contextmanager
def gradient_sync(net: nn.Module, enabled: bool) -> Iterator[None]:
    """Reduce gradients across processes in this backward pass only if ``enabled`` (off for
    all but the last micro-batch of a step: accumulate locally, communicate once)."""
    from torch.nn.parallel import DistributedDataParallel

    if is_sharded(net):
        net.set_requires_gradient_sync(enabled)
        yield
    elif not enabled and isinstance(net, DistributedDataParallel):
        with net.no_sync():
            yield
    else:
        yield


def local(value: torch.Tensor) -> torch.Tensor:
    """A plain tensor from a sharded or replicated DTensor (a collective for shards)."""
    from torch.distributed.tensor import DTensor

    return value.full_tensor() if isinstance(value, DTensor) else value


def full_weights(params: list[tuple[str, torch.Tensor]], keep: bool) -> dict[str, torch.Tensor]:
    """Unsharded CPU copies of the trained parameters if ``keep`` (else empty); every process
    must call this, as gathering shards is a collective."""
    weights = {}
    for name, p in params:
        value = local(p.detach())
        if keep:
            weights[name] = value.to("cpu", copy=True)
    return weights


def load_weights(params: list[tuple[str, torch.Tensor]], weights: dict[str, torch.Tensor]) -> None:
    """Copy full tensors into the (maybe sharded) parameters, each process its own shard."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    with torch.no_grad():
        for name, p in params:
            value = weights[name].to(p.device)
            if isinstance(p, DTensor):
                value = distribute_tensor(value, p.device_mesh, p.placements)
            p.copy_(value)


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's state, unsharded (every process must call this; process 0 gets it)."""
    if not is_sharded(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(
        model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer,
                         state: dict[str, Any]) -> None:
    """Restore what ``optimizer_state`` returned; each process keeps its own shard."""
    if not is_sharded(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state,
                             options=StateDictOptions(full_state_dict=True))


def model_state(model: nn.Module) -> dict[str, torch.Tensor] | None:
    """The whole model's unsharded state for ``save_pretrained`` (process 0 gets it), or None
    when the model is not sharded and saves itself (every process must call this)."""
    if not is_sharded(model):
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    # Gathered copies no longer share storage, so drop the second names of tied weights
    # (lm_head = embed_tokens) the way save_pretrained does for a model it reads itself.
    tied = ({n for n, _ in model.named_parameters(remove_duplicate=False)}
            - {n for n, _ in model.named_parameters()})
    return {k: v for k, v in state.items() if k not in tied}

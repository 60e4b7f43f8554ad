"""Where and in which precision torch runs: the device names (``auto``, ``cpu``, ``cuda``,
``cuda:N``) and the one dtype vocabulary of every command (``auto``, ``fp32``, ``bf16``),
resolved in one place so that loading a model, training and sizing a run agree.

Importing this module does not import torch (commands read ``DTYPES`` while they build their
parsers); the resolvers import it when called.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

Dtype = Literal["auto", "fp32", "bf16"]
DTYPES: tuple[str, ...] = get_args(Dtype)
# The long spellings, still understood (the command line warns that they are old names).
DTYPE_ALIASES: dict[str, str] = {"float32": "fp32", "bfloat16": "bf16"}


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; other names pass through."""
    import torch

    if not isinstance(device, str) or not device:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but no CUDA GPU is visible")
    return device


def resolve_dtype(dtype: Any, device: Any):
    """The torch dtype that ``dtype`` names for a model on ``device`` (a name or a
    ``torch.device``, already resolved): ``fp32`` float32, ``bf16`` bfloat16, ``auto``
    bfloat16 on a CUDA GPU that supports it and float32 elsewhere. The long names
    ``float32`` and ``bfloat16``, and those two torch dtypes, are accepted as well."""
    import torch

    torch_names = {torch.float32: "fp32", torch.bfloat16: "bf16"}
    if isinstance(dtype, torch.dtype):
        name = torch_names.get(dtype)
    elif isinstance(dtype, str):
        name = DTYPE_ALIASES.get(dtype, dtype)
    else:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (or float32, bfloat16), "
                         f"got {dtype!r}")
    if name == "auto":
        cuda = torch.device(device).type == "cuda"
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if name == "bf16" else torch.float32

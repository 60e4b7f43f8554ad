"""The one dtype vocabulary (auto, fp32, bf16) and device names that loading and training share."""

from __future__ import annotations

import pytest
import torch
from bayesflight.devices import DTYPES, resolve_device, resolve_dtype


def test_the_vocabulary_is_auto_fp32_bf16():
    assert DTYPES == ("auto", "fp32", "bf16")


@pytest.mark.parametrize(("dtype", "expected"), [
    ("fp32", torch.float32), ("bf16", torch.bfloat16),
    ("float32", torch.float32), ("bfloat16", torch.bfloat16),  # the long names, as aliases
    (torch.float32, torch.float32), (torch.bfloat16, torch.bfloat16),
])
def test_names_and_torch_dtypes_resolve(dtype, expected):
    assert resolve_dtype(dtype, "cpu") is expected


def test_auto_is_float32_on_a_cpu():
    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32


@pytest.mark.parametrize("dtype", ["float16", "fp16", torch.float16, "FP32", "", None, 32])
def test_anything_else_is_refused_naming_the_choices(dtype):
    with pytest.raises(ValueError, match=r"^dtype must be one of auto, fp32, bf16"):
        resolve_dtype(dtype, "cpu")


def test_devices():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("")

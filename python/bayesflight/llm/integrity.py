"""Whether cached model files are still what was written: sizes and SHA-256 checksums.

A converted model directory gets a manifest, written last, recording the size and SHA-256 of
every file in it; a directory without one is unfinished (or from an older bayesflight). On
load the sizes are compared every time, and the checksums whenever a file's size or
modification time differs from when it was last verified (a ledger in the cache keeps those),
so the 500 MB hash runs once after conversion and again only after the file was written to.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from ..fileio import sha256_file, write_json
from .cache import cache_dir

MANIFEST = "bayesflight-manifest.json"


def _ledger_path() -> Path:
    return cache_dir() / "verified.json"


def _read_ledger() -> dict[str, Any]:
    path = _ledger_path()
    if path.exists():
        with contextlib.suppress(ValueError, OSError):
            ledger = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(ledger, dict):
                return ledger
    return {}


def _record(path: Path, sha256: str) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}


def known_good(path: Path, sha256: str) -> bool:
    """Whether ``path`` was verified to have ``sha256`` and is unchanged since (same size
    and modification time)."""
    path = Path(path).resolve()
    return _read_ledger().get(str(path)) == _record(path, sha256)


def remember(paths_and_digests: dict[Path, str]) -> None:
    """Record files as verified with their digests (one ledger write for all of them)."""
    ledger = _read_ledger()
    for path, digest in paths_and_digests.items():
        path = Path(path).resolve()
        ledger[str(path)] = _record(path, digest)
    _ledger_path().parent.mkdir(parents=True, exist_ok=True)
    write_json(_ledger_path(), ledger)


def verified_digest(path: Path, sha256: str) -> bool:
    """Whether ``path`` has SHA-256 ``sha256``: from the ledger when it is unchanged since
    it was last verified, else by hashing it (and remembering a match)."""
    if known_good(path, sha256):
        return True
    if sha256_file(path) != sha256:
        return False
    remember({path: sha256})
    return True


def write_manifest(directory: Path) -> None:
    """Record every file of ``directory`` (size, SHA-256) in its manifest; call it last."""
    directory = Path(directory)
    files = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
             for p in sorted(directory.iterdir()) if p.is_file() and p.name != MANIFEST}
    write_json(directory / MANIFEST, {"files": files})


def manifest_problem(directory: Path) -> str | None:
    """None when ``directory`` holds what its manifest records; else what is wrong, in words.

    Sizes are checked first (cheap; a truncated file shows there), then checksums.
    """
    directory = Path(directory)
    try:
        files = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))["files"]
        entries = [(name, int(e["size"]), str(e["sha256"])) for name, e in files.items()]
    except FileNotFoundError:
        return (f"it has no {MANIFEST}: its conversion never finished, or an older "
                f"bayesflight made it")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"its {MANIFEST} is unreadable"
    for name, size, _ in entries:
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        got = path.stat().st_size
        if got != size:
            return f"{name} has {got} bytes, {size} were written"
    verified = {}
    for name, _, digest in entries:
        path = directory / name
        if known_good(path, digest):
            continue
        if sha256_file(path) != digest:
            return f"{name} differs from what was written (its SHA-256 changed)"
        verified[path] = digest
    if verified:
        with contextlib.suppress(OSError):
            remember(verified)
    return None


def manifest_digests(directory: Path) -> dict[Path, str]:
    """The files of ``directory``'s manifest and their recorded SHA-256 (to remember them)."""
    files = json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))["files"]
    return {Path(directory) / name: entry["sha256"] for name, entry in files.items()}


def file_mode_from_umask(directory: Path) -> None:
    """Give the files of ``directory`` the mode the umask gives new files (some writers,
    such as safetensors' atomic save, leave 0600)."""
    from ..fileio import current_umask

    mode = 0o666 & ~current_umask()
    for path in Path(directory).iterdir():
        if path.is_file():
            os.chmod(path, mode)

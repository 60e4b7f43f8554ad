"""Hub ids, checked before transformers tries them: a name that is neither an embedded model
nor a local directory fails in a moment, with a suggestion, when it cannot come from the hub.

Left to itself, transformers retries an unreachable hub for most of a minute before giving
up, so a mistyped name (``--model smollm2``) on a machine without network cost 49 s. Here the
local possibilities come first (embedded names, directories, the Hugging Face cache), then
one connection attempt of a few seconds tells whether the hub can be asked at all.
"""

from __future__ import annotations

import difflib
import re
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path

# A hub id: "name" or "owner/name", letters, digits, '-', '_' and '.'.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")
PROBE_TIMEOUT_S = 3.0


def suggestion(name: str, known: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest known name, or an empty string."""
    known = list(known)
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    if not close and len(name) >= 4:  # a prefix or part of a name, not a stray letter
        close = [k for k in lowered if name.lower() in k][:1]
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def in_hf_cache(repo_id: str) -> bool:
    """Whether the Hugging Face cache holds a config.json of ``repo_id`` (loadable offline)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id the hub library refuses is simply not cached
        return False


def _probe_address(endpoint: str) -> tuple[str, int]:
    """(host, port) that a request to ``endpoint`` connects to first: its proxy, if any."""
    url = urllib.parse.urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(url.hostname or ""):
        via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return via.hostname or "", via.port or 80
    return url.hostname or "", port


def reachable(endpoint: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``endpoint`` (or its proxy) opens within ``timeout``
    seconds; name resolution included, which a socket timeout alone does not bound."""
    host, port = _probe_address(endpoint)
    if not host:
        return False
    result: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def check_hub_id(name: str, embedded: Iterable[str]) -> None:
    """Return when ``name`` may be loaded from the hub (cached, or the hub is reachable);
    else ValueError in one line saying why, with the closest embedded name if one is close."""
    embedded = list(embedded)
    hint = suggestion(name, embedded)
    head = f"unknown model {name!r}: not an embedded model {sorted(embedded)}"
    path = Path(name).expanduser()
    if path.exists():
        raise ValueError(f"{head}; {path} is a file, not a model directory{hint}")
    if name.startswith((".", "/", "~")) or not _HUB_ID.fullmatch(name):
        raise ValueError(f"{head}, and no directory {path} exists{hint}")
    if in_hf_cache(name):
        return
    from huggingface_hub import constants

    if constants.is_offline_mode():
        raise ValueError(f"{head}, not a local directory, and not in the Hugging Face cache "
                         f"(the hub is switched off: HF_HUB_OFFLINE){hint}")
    if not reachable(constants.ENDPOINT):
        raise ValueError(f"{head}, not a local directory, not in the Hugging Face cache, and "
                         f"the hub ({constants.ENDPOINT}) cannot be reached from this "
                         f"machine{hint}")

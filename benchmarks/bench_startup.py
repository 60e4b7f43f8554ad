"""The time before the first training step: tokenising afresh against the token cache, in one run.

1. baseline: ``bayesflight train``'s tokenising without the cache (``--token-cache false``):
   every dialogue rendered with the chat template and tokenised, in one forked worker process
   per core (the parallel path of ``train/data.py``);
2. contender: the same call on a cache hit: the data file's SHA-256, the tokenizer's identity,
   reading ``.NAME.KEY.tokens.npz`` and cutting to ``--max-len``.

Both give the same examples (checked). Each is timed ``--repeat`` times, in turn with the
first cached call (which tokenises and writes the cache), and the medians and the ratio are
printed. With ``--breakdown`` the script also runs ``bayesflight train --max-steps 1`` in fresh
processes, cold (``--token-cache false``) and on the cache, and prints where the time from
process start to the start of the first optimizer step goes: imports, reading the data,
loading the tokenizer and the model, tokenising, and the rest (LoRA set-up, optimizer,
length-grouped batches); each run is stopped there. ``--data FILE`` replaces FILE's cache.

    python benchmarks/bench_startup.py                              # 10,240 dialogues, SmolLM2
    python benchmarks/bench_startup.py --dialogues 20000 --breakdown
    python benchmarks/bench_startup.py --tokenizer DIR_OR_HUB_ID --data FILE.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

PHASES = ("imports", "read data", "load tokenizer", "load model", "tokenise", "other")


def make_data(n: int, directory: Path) -> Path:
    """``n`` Bayesian flight dialogues, as ``bayesflight generate --teacher bayesian``."""
    from bayesflight.domains import FLIGHT
    from bayesflight.teacher import TeachingConfig
    from bayesflight.teacher_jsonl import write_dialogues

    path = directory / "data.jsonl"
    write_dialogues(path, TeachingConfig(teacher="bayesian", domain=FLIGHT, n_dialogues=n,
                                         seed=0))
    return path


def load_tokenizer(name: str):
    """The tokenizer of an embedded model name, a model directory or a hub id."""
    from bayesflight.llm.models import EMBEDDED, ensure_converted
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        str(ensure_converted(EMBEDDED[name])) if name in EMBEDDED else name)


def same_examples(a, b) -> bool:
    fields = ("input_ids", "labelled", "answer_pos", "answer", "option_probs")
    import numpy as np

    return len(a.examples) == len(b.examples) and all(
        np.array_equal(getattr(x, f), getattr(y, f)) and getattr(x, f).dtype == getattr(y, f).dtype
        for x, y in zip(a.examples, b.examples, strict=True) for f in fields)


def compare(path: Path, tokenizer_name: str, max_len: int, repeat: int) -> None:
    """Time tokenising afresh against a cache hit on ``path``; print medians and the ratio."""
    from bayesflight.train.data import read_dialogues
    from bayesflight.train.tokencache import cache_path, tokenize_file, tokenizer_identity

    tokenizer = load_tokenizer(tokenizer_name)
    start = time.perf_counter()
    records = read_dialogues(path)
    read_s = time.perf_counter() - start
    cache = cache_path(path, tokenizer_identity(tokenizer))

    def timed(**kwargs):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = tokenize_file(records, tokenizer, path, max_len, **kwargs)
        return time.perf_counter() - start, data

    fresh_s, write_s, hit_s = [], [], []
    for _ in range(repeat):  # in turn, so that a busy machine slows all three alike
        seconds, fresh = timed(cache=False)
        fresh_s.append(seconds)
        cache.unlink(missing_ok=True)
        seconds, first = timed(cache=True)
        write_s.append(seconds)
        seconds, hit = timed(cache=True)
        hit_s.append(seconds)
    assert same_examples(fresh, hit) and same_examples(fresh, first), "cache differs"
    base, ours = statistics.median(fresh_s), statistics.median(hit_s)
    print(f"{len(records):,} dialogues ({path.stat().st_size / 1e6:.1f} MB), "
          f"{len(fresh.examples)} examples, {fresh.lengths.mean():.0f} tokens each; "
          f"cache {cache.stat().st_size / 1e6:.1f} MB; reading the JSONL {read_s:.2f} s "
          f"(paid by both)")
    print(f"  tokenise afresh ({os.cpu_count()} workers) "
          f"{base:7.2f} s  (runs: {', '.join(f'{s:.2f}' for s in fresh_s)})")
    print(f"  first run, tokenise + write cache  {statistics.median(write_s):7.2f} s  "
          f"(runs: {', '.join(f'{s:.2f}' for s in write_s)})")
    print(f"  cache hit                          {ours:7.2f} s  "
          f"(runs: {', '.join(f'{s:.2f}' for s in hit_s)})")
    print(f"  the cache hit is {base / ours:.1f}x faster")


def breakdown(path: Path, model: str, repeat: int) -> None:
    """``bayesflight train --max-steps 1`` in fresh processes, cold and cached: medians."""
    rows: dict[str, list[dict[str, float]]] = {"cold (--token-cache false)": [],
                                               "cached (cache hit)": []}
    for _ in range(repeat):
        for label, flag in zip(rows, ("false", "true"), strict=True):
            with tempfile.TemporaryDirectory() as out:
                launched = time.time()
                child = subprocess.run(
                    [sys.executable, __file__, "--child", str(path), "--model", model,
                     "--child-out", str(Path(out) / "run"), "--child-cache", flag],
                    capture_output=True, text=True, check=False)
                lines = [x for x in child.stdout.splitlines() if x.startswith("STARTUP ")]
                if child.returncode or not lines:
                    sys.exit(f"the training run failed:\n{child.stderr[-3000:]}")
                marks = json.loads(lines[-1].removeprefix("STARTUP "))
                rows[label].append(phases(marks, launched))
    print(f"\nbayesflight train --max-steps 1, {model}: seconds from process start to the "
          f"start of the first step, median of {repeat} (each phase its own median)")
    print(f"  {'':20s}" + "".join(f"{label:>28s}" for label in rows))
    for name in (*PHASES, "to the first step"):
        print(f"  {name:20s}" + "".join(f"{statistics.median(r[name] for r in runs):28.2f}"
                                         for runs in rows.values()))


def phases(marks: dict[str, float], launched: float) -> dict[str, float]:
    """Seconds per phase from the child's marks (epoch times) and its launch time."""
    out = {"imports": marks["imported"] - launched, "read data": marks["read"],
           "load tokenizer": marks["tokenizer"], "load model": marks["load"] - marks["tokenizer"],
           "tokenise": marks["tokenise"], "to the first step": marks["step_begin"] - launched}
    out["other"] = out["to the first step"] - sum(out[p] for p in PHASES[:-1])
    return out


def child(path: str, model: str, out: str, cache: str) -> None:
    """One instrumented ``bayesflight train`` run; prints its marks as ``STARTUP {json}``."""
    import peft  # noqa: F401  (the imports the train command pays, counted as such)
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from bayesflight import llm
    from bayesflight.cli import main
    from bayesflight.llm import models
    from bayesflight.train import loop

    marks: dict[str, float] = {"imported": time.time()}

    def timing(owner, name: str, mark: str):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = original(*args, **kwargs)
            marks[mark] = marks.get(mark, 0.0) + time.perf_counter() - start
            return result
        setattr(owner, name, wrapper)

    timing(loop, "read_dialogues", "read")
    timing(models, "_load_tokenizer", "tokenizer")
    timing(llm, "load_model", "load")
    timing(loop, "tokenize_file", "tokenise")

    def first_step(*args, **kwargs):  # the loop's first call at the start of a step
        marks["step_begin"] = time.time()
        print("STARTUP " + json.dumps(marks), flush=True)
        os._exit(0)  # the step itself is not start-up (about a minute on a 2-core CPU)

    loop.collate = first_step
    main(["train", "--data", path, "--model", model, "--out", out, "--max-steps", "1",
          "--checkpoint-every", "0", "--no-progress", "--token-cache", cache])
    sys.exit("the training run ended before its first step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=10240,
                        help="Bayesian flight dialogues to generate (without --data)")
    parser.add_argument("--data", default=None, help="a JSONL file of dialogues instead")
    parser.add_argument("--tokenizer", default="smollm2-135m",
                        help="embedded model name, model directory or hub id")
    parser.add_argument("--max-len", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time whole `bayesflight train --max-steps 1` runs")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default="smollm2-135m", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-cache", default="true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.child_out, args.child_cache)
    if args.dialogues <= 0 or args.repeat <= 0:
        parser.error("--dialogues and --repeat must be positive")
    from machine import cpu_name

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; tokenizer {args.tokenizer}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.data) if args.data else make_data(args.dialogues, Path(tmp))
        compare(path, args.tokenizer, args.max_len, args.repeat)
        if args.breakdown:
            breakdown(path, args.tokenizer, args.repeat)


if __name__ == "__main__":
    main()

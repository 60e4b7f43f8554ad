"""The paper's experiment end to end: teach, fine-tune, evaluate, report.

1. Bayesian and oracle teaching dialogues on flights (same users, same option sets, same size);
2. the embedded model fine-tuned on each with the same budget and seed, plus a soft-target
   Bayesian run;
3. the original and the taught models, and the Bayesian assistant, evaluated on the same
   evaluation users and held-out sets, on flights and on hotels (transfer: taught on flights);
4. a table and a figure like the paper's.

Every stage leaves its result in the output directory and is skipped when that result is
there; a killed training run resumes from its checkpoint and a killed evaluation from the
last finished user, so a rerun of the same command finishes the work without redoing any.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .assistants import make_assistant
from .domains import FLIGHT, get_domain
from .evalset import EvalSet, make_eval_set
from .fileio import atomic_open, write_json
from .llm.embedded import DEFAULT_MODEL
from .metrics import summarise
from .plotting import plot_panels
from .protocol import run_assistant
from .teacher import TeachingConfig
from .teacher_jsonl import write_dialogues


@dataclass(frozen=True)
class Scale:
    """How big a reproduction is: data, training budget and evaluation size."""

    name: str
    description: str
    train_dialogues: int
    train: dict[str, Any]  # TrainConfig fields shared by every taught model
    eval_users: int
    eval_heldout: int
    train_rounds: int = 5  # rounds per teaching dialogue
    eval_rounds: int = 5
    eval_batch_size: int = 16
    domains: tuple[str, ...] = ("flight", "hotel")
    model: str = DEFAULT_MODEL
    variants: tuple[str, ...] = ("bayesian", "oracle", "bayesian-soft")
    soft_weight: float = 1.0


SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke",
        description="every stage on a few examples: checks the pipeline, shows nothing",
        train_dialogues=4, train_rounds=2,
        train={"max_steps": 2, "batch_size": 1, "lora_r": 4, "lora_alpha": 8.0,
               "checkpoint_every": 1, "lr": 1e-4},
        eval_users=1, eval_heldout=2, eval_rounds=1, eval_batch_size=4,
    ),
    "cpu": Scale(
        name="cpu",
        description="the experiment at the size 2 CPU cores finish in about 2 hours",
        train_dialogues=640,
        train={"epochs": 1, "batch_size": 4, "lora_r": 16, "lora_alpha": 32.0,
               "lr": 5e-4, "loss_tokens": "digit", "dtype": "bf16",
               "checkpoint_every": 20},
        eval_users=12, eval_heldout=10,
    ),
    "gpu": Scale(
        name="gpu",
        description="sized for one H100: more dialogues, full fine-tuning, a larger evaluation",
        train_dialogues=20_000,
        train={"full": True, "epochs": 2, "batch_size": 16, "grad_accum": 2, "lr": 2e-5,
               "checkpoint_every": 200},
        eval_users=100, eval_heldout=100, eval_batch_size=100,
    ),
}

# variant -> the teaching data it trains on; data -> (teacher, belief statements)
TEACHER_OF = {"bayesian": "bayesian", "oracle": "oracle", "bayesian-soft": "bayesian",
              "bayesian-statements": "bayesian-statements"}
DATA = {"bayesian": ("bayesian", False), "oracle": ("oracle", False),
        "bayesian-statements": ("bayesian", True)}
TARGET_OF = {"bayesian": "hard", "oracle": "hard", "bayesian-soft": "soft",
             "bayesian-statements": "hard"}
MODE_OF = {"bayesian-statements": "belief"}  # evaluation mode; "score" for the others
LABELS = {"original": "original", "bayesian": "bayesian-taught", "oracle": "oracle-taught",
          "bayesian-soft": "bayesian-taught (soft)",
          "bayesian-statements": "bayesian-taught (statements)"}
VARIANTS = tuple(TEACHER_OF)


@dataclass
class Reproduction:
    """Where one reproduction lives and what it is: paths of every stage's result."""

    scale: Scale
    out: Path
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    log: Callable[[str], None] = print
    sizing: dict[str, Any] | None = None  # how --time-budget sized the scale, if it did
    report_to: str = "none"  # the experiment tracker of the training runs

    def data_path(self, teacher: str) -> Path:
        return self.out / "data" / f"{teacher}.jsonl"

    def model_dir(self, variant: str) -> Path:
        """``models/bayesian-taught`` etc.: never the name of a reference assistant, so that
        ``evaluate --adapter DIR`` names the run after it without a clash."""
        return self.out / "models" / f"{variant}-taught"

    def summary_path(self, domain: str, name: str) -> Path:
        return self.out / "eval" / domain / f"{name}.summary.json"

    @property
    def seconds_path(self) -> Path:
        return self.out / "seconds.json"

    def seconds(self) -> dict[str, float]:
        """Seconds spent in each stage's finished work, summed over every invocation (a rerun
        that skips a stage adds nothing to it)."""
        path = self.seconds_path
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    @contextlib.contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        """Add the time spent in the block to the stage's total in ``seconds.json``."""
        start = time.perf_counter()
        yield
        seconds = self.seconds()
        seconds[stage] = round(seconds.get(stage, 0.0) + time.perf_counter() - start, 1)
        write_json(self.seconds_path, seconds)

    def generate(self) -> None:
        """Stage 1: one teaching file per teacher, from the same seed (same users and sets)."""
        for data in sorted({TEACHER_OF[v] for v in self.scale.variants}):
            path = self.data_path(data)
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            teacher, statements = DATA[data]
            config = TeachingConfig(teacher=teacher, domain=FLIGHT, statements=statements,
                                    n_dialogues=self.scale.train_dialogues, seed=self.seed,
                                    n_rounds=self.scale.train_rounds,
                                    users="train", heldout_seed=self.seed,
                                    n_heldout=max(self.scale.eval_heldout, 100))
            with self._timed("generate"):
                write_dialogues(path, config)
            self.log(f"reproduce: wrote {path}")

    def train(self) -> None:
        """Stage 2: fine-tune the model on each teacher's dialogues, same budget and seed."""
        from .train import TrainConfig, train

        for variant in self.scale.variants:
            config = TrainConfig(
                data=str(self.data_path(TEACHER_OF[variant])), out=str(self.model_dir(variant)),
                model=self.scale.model, seed=self.seed, target=TARGET_OF[variant],
                soft_weight=self.scale.soft_weight, device=self.device,
                progress=self.progress, report_to=self.report_to,
                resume=(self.model_dir(variant) / "train_config.json").is_file(),
                **self.scale.train)
            self.log(f"reproduce: training {LABELS[variant]}")
            with self._timed("train"):
                train(config)

    def evalset(self, domain: str) -> EvalSet:
        return make_eval_set(get_domain(domain), seed=self.seed, n_users=self.scale.eval_users,
                             n_rounds=self.scale.eval_rounds, n_heldout=self.scale.eval_heldout,
                             users="eval")

    def evaluate(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Stage 3: every model and the Bayesian assistant on each domain's evaluation set."""
        from .llm.evaluation import evaluate_llm

        results: dict[str, dict[str, dict[str, Any]]] = {}
        for domain in self.scale.domains:
            evalset = self.evalset(domain)
            bayesian = run_assistant(make_assistant("bayesian", evalset.domain), evalset,
                                     progress=False)
            summaries = {"bayesian assistant": summarise(bayesian, evalset, bayesian)}
            models = {"original": None, **{v: self.model_dir(v) for v in self.scale.variants}}
            for key, adapter in models.items():
                path = self.summary_path(domain, key)
                if not path.exists():
                    self.log(f"reproduce: evaluating {LABELS[key]} on {domain}")
                    with self._timed("evaluate"):
                        run = evaluate_llm(
                            evalset, path.parent, key, self.scale.model,
                            adapter=None if adapter is None else str(adapter), resume=True,
                            device=self.device, batch_size=self.scale.eval_batch_size,
                            progress=self.progress, mode=MODE_OF.get(key, "score"))
                    write_json(path, summarise(run.transcript, evalset, bayesian))
                summaries[LABELS[key]] = json.loads(path.read_text(encoding="utf-8"))
            results[domain] = summaries
        return results

    def run(self) -> dict[str, dict[str, dict[str, Any]]]:
        """All stages in order; returns {domain: {assistant: summary}}."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._claim()
        self.generate()
        self.train()
        results = self.evaluate()
        self.report(results)
        return results

    def _claim(self) -> None:
        """Refuse to mix two reproductions (another scale or seed) in one directory."""
        path = self.out / "reproduce.json"
        key = {"scale": asdict(self.scale), "seed": self.seed}
        key = json.loads(json.dumps(key))  # tuples as lists, as they come back from the file
        if path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved != key:
                raise ValueError(f"--out {self.out} holds a reproduction with another scale or "
                                 f"seed; choose another directory")
        else:
            write_json(path, key)

    def report(self, results: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Stage 4: results.json, report.md and figure.png in the output directory."""
        write_json(self.out / "results.json",
                   {"scale": self.scale.name, "model": self.scale.model, "seed": self.seed,
                    "domains": results, "seconds": self.seconds(),
                    **({"sizing": self.sizing} if self.sizing else {})})
        plot_panels({f"{d} ({'taught' if d == 'flight' else 'transfer'})": s
                     for d, s in results.items()}, self.out / "figure.png")
        with atomic_open(self.out / "report.md") as handle:
            handle.write(format_report(self.scale, results))
            if self.sizing:
                handle.write(format_sizing(self.sizing))
        self.log(f"reproduce: wrote {self.out / 'report.md'} and {self.out / 'figure.png'}")


def format_report(scale: Scale, results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Markdown tables: held-out accuracy by round (mean ± 95% CI half-width) and agreement
    with the Bayesian assistant, one table per domain."""
    lines = []
    for domain, summaries in results.items():
        n_rounds = max(len(s["heldout_accuracy"]) for s in summaries.values()) - 1
        head = " | ".join(f"round {r}" for r in range(n_rounds + 1))
        lines += [f"**{domain}** ({scale.eval_users} evaluation users, {scale.eval_heldout} "
                  f"held-out sets)", "", f"| model | {head} | agreement (final) |",
                  "|---" * (n_rounds + 3) + "|"]
        for name, s in summaries.items():
            cells = [f"{a:.3f} ± {(hi - lo) / 2:.3f}"
                     for a, (lo, hi) in zip(s["heldout_accuracy"], s["heldout_accuracy_ci95"],
                                            strict=True)]
            lines.append(f"| {name} | {' | '.join(cells)} | "
                         f"{s['agreement_with_bayesian'][-1]:.3f} |")
        lines.append("")
    return "\n".join(lines)


def format_sizing(sizing: dict[str, Any]) -> str:
    """How ``--time-budget`` sized the run, for the report."""
    p, e = sizing["probe"], sizing["expected_seconds"]
    return (f"Sized to a {sizing['time_budget_minutes']:g}-minute budget from a probe on "
            f"{p['device']}: model load {p['load_seconds']:.1f} s, training "
            f"{p['train_tokens_per_s']:,.0f} tokens/s on {p['tokens_per_dialogue']:.0f}-token "
            f"dialogues, evaluation {p['eval_questions_per_s']:.1f} questions/s; hence "
            f"{sizing['train_dialogues']} dialogues ({sizing['steps_per_model']} steps) per "
            f"taught model and {sizing['eval_users']} evaluation users (expected: training "
            f"{e['train']} s, evaluation {e['evaluate']} s, start-up {e['start_up']} s, margin "
            f"{e['margin']} s).\n")


def write_docs(out: Path, docs: Path, scale: Scale) -> None:
    """Put the report and figure into ``docs`` between markers for this scale (kept once)."""
    begin, end = f"<!-- reproduce:{scale.name} -->", f"<!-- /reproduce:{scale.name} -->"
    figure = docs.parent / "figures" / f"reproduce_{scale.name}.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "figure.png", figure)
    body = (f"{begin}\n{(out / 'report.md').read_text(encoding='utf-8')}\n"
            f"![{scale.name} reproduction](figures/{figure.name})\n{end}")
    text = docs.read_text(encoding="utf-8") if docs.exists() else ""
    if begin in text and end in text:
        text = text[:text.index(begin)] + body + text[text.index(end) + len(end):]
    else:
        text = f"{text.rstrip()}\n\n{body}\n" if text else f"{body}\n"
    with atomic_open(docs) as handle:
        handle.write(text)

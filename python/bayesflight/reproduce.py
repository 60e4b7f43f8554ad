"""The paper's experiment end to end: teach, fine-tune, evaluate, report.

1. Bayesian and oracle teaching dialogues on flights (same users, same option sets, same size);
2. the embedded model fine-tuned on each with the same budget and seed, plus a soft-target
   Bayesian run;
3. the original and the taught models, and the Bayesian assistant, evaluated on the same
   evaluation users and held-out sets, on flights and on hotels (transfer: taught on flights);
4. a table and a figure like the paper's.

With several seeds, each seed draws its own teaching data and trains its own models (data
order, adapter initialisation) in ``OUT/seed-S``; the evaluation set is the first seed's for
every seed, and the original model and the Bayesian assistant are evaluated once, so that the
spread over seeds is that of teaching and training. A single seed keeps everything in ``OUT``.

Every stage leaves its result in the output directory and is skipped when that result is
there; a killed training run resumes from its checkpoint and a killed evaluation from the
last finished user, so a rerun of the same command finishes the work without redoing any.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .assistants import make_assistant
from .domains import get_domain
from .evalset import EvalSet, make_eval_set
from .fileio import atomic_open, write_json
from .llm.embedded import DEFAULT_MODEL
from .metrics import format_ci, heldout_accuracy_per_user, summarise
from .plotting import plot_panels
from .protocol import run_assistant
from .seeds import across_seeds, check_seeds, format_seeds_table
from .teacher import TeachingConfig
from .teacher_jsonl import write_parts
from .tracking import check_available, report_evaluation
from .transcript import Transcript
from .variants import ORIGINAL, VARIANTS, Teaching, Variant, label, mode


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


@dataclass
class Reproduction:
    """Where one reproduction lives and what it is: paths of every stage's result.

    ``seed`` is the same as ``seeds=(seed,)`` (default 0); after construction ``seeds`` holds
    every seed and ``seed`` the first, whose evaluation set every seed is evaluated on.
    """

    scale: Scale
    out: Path
    seed: int | None = None
    device: str = "auto"
    progress: bool = True
    log: Callable[[str], None] = print
    sizing: dict[str, Any] | None = None  # how --time-budget sized the scale, if it did
    report_to: str = "none"  # the experiment tracker of the training runs and evaluation curves
    seeds: tuple[int, ...] = ()
    per_seed: dict[int, dict[str, dict[str, dict[str, Any]]]] = field(
        default_factory=dict, init=False, repr=False)  # what evaluate found for each seed

    def __post_init__(self) -> None:
        if self.seed is not None and self.seeds and tuple(self.seeds) != (self.seed,):
            raise ValueError(f"give seed or seeds, not both (seed {self.seed}, seeds "
                             f"{','.join(map(str, self.seeds))})")
        self.seeds = check_seeds(self.seeds or (0 if self.seed is None else self.seed,))
        self.seed = self.seeds[0]
        for teaching in self.teachings:
            teaching.shares(self.scale.train_dialogues)  # ValueError for an empty part

    @property
    def teachings(self) -> list[Teaching]:
        """The teaching data files the scale's variants train on, each once, by name."""
        return sorted({VARIANTS[v].teaching for v in self.scale.variants}, key=lambda t: t.name)

    @property
    def several(self) -> bool:
        """Whether this reproduction repeats teaching and training over several seeds."""
        return len(self.seeds) > 1

    def seed_dir(self, seed: int) -> Path:
        """Where one seed's data, models and evaluations go: ``OUT/seed-S``, or ``OUT`` itself
        for a single seed (the layout of a run without repeats)."""
        return self.out / f"seed-{seed}" if self.several else self.out

    def data_path(self, teaching: str, seed: int | None = None) -> Path:
        return self.seed_dir(self._seed(seed)) / "data" / f"{teaching}.jsonl"

    def parts_path(self, teaching: str, seed: int | None = None) -> Path:
        """What a teaching over several domains holds: its parts, in file order."""
        return self.seed_dir(self._seed(seed)) / "data" / f"{teaching}.parts.json"

    def model_dir(self, variant: str, seed: int | None = None) -> Path:
        """``models/bayesian-taught`` etc.: never the name of a reference assistant, so that
        ``evaluate --adapter DIR`` names the run after it without a clash."""
        return self.seed_dir(self._seed(seed)) / "models" / f"{variant}-taught"

    def summary_path(self, domain: str, name: str, seed: int | None = None) -> Path:
        """A model's evaluation summary: a taught model's under its seed's directory, the
        original model's (``seed`` None: evaluated once) under ``OUT``."""
        base = self.out if seed is None else self.seed_dir(seed)
        return base / "eval" / domain / f"{name}.summary.json"

    def _seed(self, seed: int | None) -> int:
        return self.seed if seed is None else seed

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
        """Stage 1: per seed, one file per teaching from that seed (the same users and sets
        for every teacher of a domain), each part avoiding the held-out sets of its domain's
        evaluation set. A teaching over several domains also records its parts beside it."""
        for seed in self.seeds:
            for teaching in self.teachings:
                path, parts = self.data_path(teaching.name, seed), self.parts_path(teaching.name,
                                                                                   seed)
                several = len(teaching.domains) > 1
                if path.exists() and (parts.exists() or not several):
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                configs = [self._teaching_config(teaching, domain, n, seed) for domain, n in
                           zip(teaching.domains, teaching.shares(self.scale.train_dialogues),
                               strict=True)]
                with self._timed("generate"):
                    written = write_parts(path, configs)
                if several:
                    write_json(parts, describe_parts(teaching, configs, written))
                self.log(f"reproduce: wrote {path}")

    def _teaching_config(self, teaching: Teaching, domain: str, n_dialogues: int,
                         seed: int) -> TeachingConfig:
        """``n_dialogues`` of ``teaching`` on ``domain`` from ``seed``: training users, rounds
        that avoid the held-out sets of that domain's evaluation (the first seed's)."""
        return TeachingConfig(teacher=teaching.teacher, domain=get_domain(domain),
                              statements=teaching.statements, n_dialogues=n_dialogues,
                              seed=seed, n_rounds=self.scale.train_rounds, users="train",
                              heldout_seed=self.seed,
                              n_heldout=max(self.scale.eval_heldout, 100))

    def train(self) -> None:
        """Stage 2: per seed, fine-tune the model on each teacher's dialogues of that seed,
        same budget; the seed also orders the data and initialises the adapter."""
        from .train import TrainConfig, train

        for seed in self.seeds:
            for name in self.scale.variants:
                variant, out = VARIANTS[name], self.model_dir(name, seed)
                config = TrainConfig(
                    data=str(self.data_path(variant.teaching.name, seed)), out=str(out),
                    model=self.scale.model, seed=seed, target=variant.target,
                    soft_weight=self.scale.soft_weight, device=self.device,
                    progress=self.progress, report_to=self.report_to,
                    run_name=f"{out.name}-seed-{seed}" if self.several else None,
                    resume=(out / "train_config.json").is_file(),
                    **self.train_settings(variant))
                self.log(f"reproduce: training {self._label(name, seed)}")
                with self._timed("train"):
                    train(config)

    def train_settings(self, variant: Variant) -> dict[str, Any]:
        """The scale's TrainConfig settings for ``variant``: a curriculum (``stage_key``) also
        gets ``max_steps``, the steps of an unstaged run on as many dialogues, because each of
        its stages ends on a short batch of its own; so every variant takes the same number of
        optimizer steps under the same schedule (the last stage loses the few steps its
        stages' short batches would add)."""
        from .train import TrainConfig

        settings = {**self.scale.train}
        if variant.stage_key is not None:
            settings["stage_key"] = variant.stage_key
            if not settings.get("max_steps"):
                shape = TrainConfig(data="-", out="-", **self.scale.train)
                per_step = shape.batch_size * shape.accumulation(1)
                settings["max_steps"] = shape.epochs * math.ceil(
                    self.scale.train_dialogues / per_step)
        return settings

    def _label(self, key: str, seed: int | None) -> str:
        return label(key) if seed is None or not self.several else f"{label(key)} (seed {seed})"

    def evalset(self, domain: str) -> EvalSet:
        return make_eval_set(get_domain(domain), seed=self.seed, n_users=self.scale.eval_users,
                             n_rounds=self.scale.eval_rounds, n_heldout=self.scale.eval_heldout,
                             users="eval")

    def evaluate(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Stage 3: every model and the Bayesian assistant on each domain's evaluation set (the
        first seed's, for every seed); the original model and the Bayesian assistant once.

        Returns {domain: {assistant: summary}}: with several seeds a taught model's summary is
        its mean over seeds (``seeds.across_seeds``); each seed's own results, beside the
        assistants evaluated once, are kept in ``per_seed``.
        """
        results: dict[str, dict[str, dict[str, Any]]] = {}
        self.per_seed = {seed: {} for seed in self.seeds}
        for domain in self.scale.domains:
            evalset = self.evalset(domain)
            bayesian = run_assistant(make_assistant("bayesian", evalset.domain), evalset,
                                     progress=False)
            once = {"bayesian assistant": summarise(bayesian, evalset, bayesian),
                    label(ORIGINAL): self._evaluated(evalset, bayesian, ORIGINAL, None)}
            taught = {seed: {v: self._evaluated(evalset, bayesian, v, seed)
                             for v in self.scale.variants} for seed in self.seeds}
            for seed in self.seeds:
                self.per_seed[seed][domain] = {
                    **once, **{label(v): s for v, s in taught[seed].items()}}
            if not self.several:
                results[domain] = self.per_seed[self.seed][domain]
                continue
            results[domain] = {**once, **{
                label(v): across_seeds([taught[seed][v] for seed in self.seeds],
                                        [self._per_user(evalset, v, seed) for seed in self.seeds])
                for v in self.scale.variants}}
        return results

    def _evaluated(self, evalset: EvalSet, bayesian: Transcript, key: str,
                   seed: int | None) -> dict[str, Any]:
        """The summary of the original model (``seed`` None) or of a seed's taught model on
        ``evalset``, evaluated now unless a previous run left it (a killed evaluation resumes
        from its last finished user)."""
        from .llm.evaluation import evaluate_llm

        path = self.summary_path(evalset.domain.name, key, seed)
        if not path.exists():
            self.log(f"reproduce: evaluating {self._label(key, seed)} on {evalset.domain.name}")
            adapter = None if seed is None else str(self.model_dir(key, seed))
            with self._timed("evaluate"):
                run = evaluate_llm(
                    evalset, path.parent, key, self.scale.model, adapter=adapter, resume=True,
                    device=self.device, batch_size=self.scale.eval_batch_size,
                    progress=self.progress, mode=mode(key))
            summary = summarise(run.transcript, evalset, bayesian)
            if run.statements_exact is not None:  # belief mode: its statements' agreement
                summary["statements_exact"] = run.statements_exact
            write_json(path, summary)
        return json.loads(path.read_text(encoding="utf-8"))

    def _per_user(self, evalset: EvalSet, key: str, seed: int) -> Any:
        """Each user's held-out accuracy by round for a seed's taught model, from the
        transcript its evaluation saved: (U, R+1)."""
        path = self.summary_path(evalset.domain.name, key, seed)
        transcript = Transcript.load(path.parent / f"{key}.transcript.npz")
        return heldout_accuracy_per_user(transcript, evalset)

    def run(self) -> dict[str, dict[str, dict[str, Any]]]:
        """All stages in order; returns {domain: {assistant: summary}} (over seeds, with
        several: see :meth:`evaluate`)."""
        check_available(self.report_to)
        self.out.mkdir(parents=True, exist_ok=True)
        self._claim()
        self.generate()
        self.train()
        results = self.evaluate()
        self.report(results)
        self.track(results)
        return results

    def track(self, results: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Send the evaluation curves to ``report_to``: per domain, a run for each seed
        (``evaluate-DOMAIN-seed-S``: every model evaluated, the taught ones of that seed) and,
        with several seeds, one of the means (``evaluate-DOMAIN-mean``); tags
        ``eval/DOMAIN/MODEL/SCORE`` by rounds completed, as ``evaluate --report-to`` sends."""
        if self.report_to == "none":
            return
        runs = {f"seed-{seed}": (by_domain, seed) for seed, by_domain in self.per_seed.items()}
        if self.several:
            runs["mean"] = (results, None)
        for suffix, (by_domain, seed) in runs.items():
            for domain, summaries in by_domain.items():
                config = {"scale": self.scale.name, "model": self.scale.model, "domain": domain,
                          **({"seeds": ",".join(map(str, self.seeds))} if seed is None
                             else {"seed": seed})}
                report_evaluation(self.report_to, self.out, f"evaluate-{domain}-{suffix}",
                                  {tag_name(n): s for n, s in summaries.items()},
                                  prefix=f"eval/{domain}", config=config)

    def _claim(self) -> None:
        """Refuse to mix two reproductions (another scale or seeds) in one directory."""
        path = self.out / "reproduce.json"
        key = {"scale": asdict(self.scale),
               **({"seeds": list(self.seeds)} if self.several else {"seed": self.seed})}
        key = json.loads(json.dumps(key))  # tuples as lists, as they come back from the file
        if path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved != key:
                raise ValueError(f"--out {self.out} holds a reproduction with another scale or "
                                 f"seeds; choose another directory")
        else:
            write_json(path, key)

    def report(self, results: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Stage 4: results.json, report.md and figure.png in the output directory. With
        several seeds, results.json also holds each seed's results (``per_seed``) and
        report.md the table over seeds; the figure draws each seed's curve thin."""
        seeds = {"evaluation_seed": self.seed, "per_seed": {
            str(seed): by_domain for seed, by_domain in self.per_seed.items()}}
        write_json(self.out / "results.json",
                   {"scale": self.scale.name, "model": self.scale.model, "seed": self.seed,
                    "seeds": list(self.seeds), **(seeds if self.several else {}),
                    "domains": results, "seconds": self.seconds(),
                    **({"sizing": self.sizing} if self.sizing else {})})
        plot_panels({f"{d} ({'taught' if d == 'flight' else 'transfer'})": s
                     for d, s in results.items()}, self.out / "figure.png")
        with atomic_open(self.out / "report.md") as handle:
            if self.scale.eval_users == 1:  # as the figure says it
                handle.write("Pipeline check with a single user: not a result; with one user "
                             "the 95% CI is the whole range, so every ± is 0.500 or more.\n\n")
            if self.several:
                handle.write(f"Taught models: the mean over seeds {', '.join(map(str, self.seeds))}"
                             f" (each seed teaches and trains anew; every seed is evaluated on "
                             f"seed {self.seed}'s evaluation set), ± the 95% CI over users of "
                             f"each user's accuracy averaged over the seeds.\n\n")
            handle.write(format_report(self.scale, results))
            if self.several:
                for domain, summaries in results.items():
                    handle.write(f"\n**{domain}, over seeds**\n\n"
                                 f"{format_seeds_table(summaries, self.seeds)}")
                handle.write("\n")
            if self.sizing:
                handle.write(format_sizing(self.sizing))
        self.log(f"reproduce: wrote {self.out / 'report.md'} and {self.out / 'figure.png'}")


def describe_parts(teaching: Teaching, configs: list[TeachingConfig],
                   written: list[Any]) -> dict[str, Any]:
    """What a teaching file over several domains holds: per part, in file order, its domain,
    its dialogues, its 1-based first and last lines and the rounds redrawn to avoid held-out
    sets (``written``: ``teacher_jsonl.write_parts``'s summaries)."""
    parts, line = [], 1
    for config, summary in zip(configs, written, strict=True):
        parts.append({"domain": config.domain.name, "dialogues": config.n_dialogues,
                      "first_line": line, "last_line": line + config.n_dialogues - 1,
                      "redrawn": summary.n_redrawn})
        line += config.n_dialogues
    return {"teaching": teaching.name, "teacher": teaching.teacher,
            "statements": teaching.statements, "parts": parts}


def tag_name(name: str) -> str:
    """An assistant's name as a tracker tag: ``bayesian-taught (soft)`` ->
    ``bayesian-taught-soft`` (TensorBoard tags take no spaces or brackets)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


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
            cells = [format_ci(a, ci) for a, ci in zip(s["heldout_accuracy"],
                                                       s["heldout_accuracy_ci95"], strict=True)]
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

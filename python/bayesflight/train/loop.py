"""The training loop: supervised fine-tuning on teaching dialogues, in one readable function.

A plain PyTorch loop on transformers + PEFT (not TRL's SFTTrainer): exact resumption needs
control of the data order, the RNG states and the schedule, and the soft target needs the
logits at the answer positions; both are a few lines here and would be overrides there.

Per optimizer step: the global batch (same-length examples) is split among processes and into
micro-batches; each micro-batch computes logits only where a loss is taken (the labelled
positions), and its loss is its share of the mean over the whole global batch, so gradient
accumulation and several processes give the same step as one big batch.

With ``stage_key`` (a curriculum) the batches of each epoch come stage by stage in file order
(``batching.staged_batches``) under the one schedule of the whole run; every metrics line then
names its step's stage.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..devices import resolve_dtype
from ..fileio import atomic_open, write_json
from ..llm.compat import logits_at
from ..tracking import check_available, open_tracker, training_values
from . import checkpoint, distributed, modeling, parallel
from .batching import Batch, collate, micro_batches, staged_batches
from .config import TrainConfig
from .data import TokenizedData, read_dialogue_file, record_stages, require_answers
from .losses import Terms, loss_terms, objective
from .template import TEMPLATE_FILE
from .tokencache import tokenize_file

CONFIG_FILE = "train_config.json"
DATA_FILE = "train_data.json"  # the SHA-256 of the data the run trains on
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "train_summary.json"


def train(config: TrainConfig) -> Path:
    """Fine-tune ``config.model`` on ``config.data``; returns the output directory.

    The directory then holds the adapter (LoRA) or the model (full), the tokenizer,
    ``train_config.json``, ``metrics.jsonl`` (one line per step) and ``train_summary.json``;
    with ``report_to``, every metrics line also goes to that experiment tracker.
    Under ``torchrun`` every process calls this; process 0 writes the files.
    """
    dist = distributed.init(config.device)
    out = Path(config.out)
    new_run = not (out / CONFIG_FILE).is_file()
    existed = out.exists()
    try:
        return _train(config, dist)
    except BaseException:
        if dist.is_main and new_run:
            _clear_unstarted_run(out, existed)
        raise
    finally:
        distributed.close(dist)


def _clear_unstarted_run(out: Path, existed: bool) -> None:
    """Undo a new run that failed (or was interrupted) before its first checkpoint, so that a
    rerun starts afresh instead of being told to --resume a run that holds nothing.

    A new run starts in an empty or missing directory, so everything in it is this run's.
    """
    if not (out / CONFIG_FILE).is_file() or checkpoint.checkpoints(out) \
            or (out / SUMMARY_FILE).is_file():
        return
    for path in out.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if not existed:
        with contextlib.suppress(OSError):
            out.rmdir()


def _train(config: TrainConfig, dist: distributed.Dist) -> Path:
    out = Path(config.out)
    # The data is checked first: before anything is created or the model (minutes, for a
    # large one) is loaded. Every process checks: a refusal must stop them all.
    check_available(config.report_to)
    dialogues = read_dialogue_file(config.data)
    records = dialogues.records
    need_answers = config.target == "soft" or config.loss_tokens == "digit"
    require_answers(records, need_answers, config.data)
    stage_names, record_stage = (record_stages(records, config.stage_key, config.data)
                                 if config.stage_key else ((), None))
    from ..llm.models import check_model_source

    check_model_source(config.model)
    fresh = _check_out(out, config, dialogues.sha256)
    dist.barrier()
    if dist.is_main and fresh:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / DATA_FILE, {"sha256": dialogues.sha256})
        write_json(out / CONFIG_FILE, config.to_dict())
    if (out / SUMMARY_FILE).is_file():
        _log(dist, f"train: {out} holds a finished run; nothing to do")
        return out
    from ..llm import load_model

    compute = resolve_dtype(config.dtype, dist.device)  # bf16: autocast over fp32 weights
    torch.manual_seed(config.seed)
    model, tokenizer = load_model(config.model, device=str(dist.device), dtype="fp32")
    with warnings.catch_warnings():
        if not dist.is_main:
            warnings.simplefilter("ignore")
        data = tokenize_file(records, tokenizer, config.data, config.max_len, need_answers,
                             cache=config.token_cache, write=dist.is_main,
                             data_sha256=dialogues.sha256)
    model = modeling.prepare(model, config)
    model.train()
    net = parallel.wrap(model, config, dist)
    params = modeling.trainable(model)
    fused = dist.device.type == "cuda" and not config.fsdp  # one kernel for every tensor
    optimizer = torch.optim.AdamW([p for _, p in params], lr=config.learning_rate,
                                  weight_decay=config.weight_decay, fused=fused or None)
    accum = config.accumulation(dist.world_size)
    global_size = config.batch_size * accum * dist.world_size
    lengths = data.lengths
    example_stage = None if record_stage is None else record_stage[data.record_index]
    stages = None if example_stage is None else [
        np.flatnonzero(example_stage == number) for number in range(len(stage_names))]
    per_epoch = len(staged_batches(lengths, stages, global_size, config.seed, 0,
                                   dist.world_size))
    if per_epoch == 0:
        raise ValueError(f"{len(lengths)} dialogues cannot feed {dist.world_size} processes")
    total = config.max_steps or config.epochs * per_epoch
    scheduler = _scheduler(optimizer, config, total)
    step, elapsed, tokens_seen = 0, 0.0, 0
    if dist.is_main:
        checkpoint.clear_partial(out)
    dist.barrier()
    found = checkpoint.checkpoints(out) if config.resume else []
    if found:
        state = checkpoint.load_checkpoint(found[-1], model, params, optimizer, scheduler,
                                           dist)
        step, elapsed, tokens_seen = state["step"], state["elapsed_s"], state["tokens"]
        _log(dist, f"train: resuming {out} at step {step} of {total}")
    else:
        torch.manual_seed(config.seed + dist.rank)  # dropout draws differ per process
    tracker = None
    if dist.is_main:
        _keep_metrics(out / METRICS_FILE, step)
        tracker = open_tracker(config.report_to, out, config.run_name,
                               config.to_dict() | {"learning_rate": config.learning_rate},
                               purge_from=step + 1 if step else None)
    _log(dist, _summary_line(data, model, config, total, per_epoch, accum, dist, compute))
    if stages is not None:
        _log(dist, f"train: {len(stages)} stages by {config.stage_key!r}, in this order: "
                   + ", ".join(f"{n} ({len(m)} dialogues)"
                               for n, m in zip(stage_names, stages, strict=True)))

    option_ids = (None if data.option_ids is None
                  else torch.as_tensor(data.option_ids, device=dist.device))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=step, desc="train", unit="step", dynamic_ncols=True,
               disable=not (dist.is_main and config.progress))
    batches, batches_epoch = [], -1
    while step < total:
        epoch, index = divmod(step, per_epoch)
        if epoch != batches_epoch:
            batches = staged_batches(lengths, stages, global_size, config.seed, epoch,
                                     dist.world_size)
            batches_epoch = epoch
        t0 = time.perf_counter()
        passes = [collate([data.examples[i] for i in m], pad_id, config.loss_tokens == "digit")
                  for m in micro_batches(batches[index], lengths, dist.world_size, dist.rank,
                                         config.batch_size)]
        sums = _accumulate_gradients(net, model, passes, option_ids, config, dist, compute)
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for _, p in params], config.max_grad_norm if config.max_grad_norm > 0 else math.inf)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        seconds = time.perf_counter() - t0
        elapsed += seconds
        tokens_seen += int(sums["tokens"])
        record = _record(step, per_epoch, sums, lr, float(parallel.local(grad_norm)), seconds,
                         elapsed, config)
        if example_stage is not None:
            record["stage"] = stage_names[example_stage[batches[index][0]]]
        if dist.is_main:
            with open(out / METRICS_FILE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            if tracker is not None:
                tracker.log(training_values(record), step)
            bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{lr:.2e}", refresh=False)
            bar.update(1)
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total:
            checkpoint.save_checkpoint(out, step, model, params, optimizer, scheduler,
                                       {"elapsed_s": elapsed, "tokens": tokens_seen}, dist)
    bar.close()
    if tracker is not None:
        tracker.finish()
    state = parallel.model_state(model)  # gathers FSDP shards: every process takes part
    if dist.is_main:
        summary = run_summary(step, step / per_epoch, tokens_seen, elapsed, data)
        if stages is not None:
            summary["stages"] = [{"name": n, "dialogues": len(m)}
                                 for n, m in zip(stage_names, stages, strict=True)]
        save_result(model, tokenizer, out, config, state, summary, dialogues.sha256)
        write_json(out / SUMMARY_FILE, summary)
        checkpoint.remove_checkpoints(out)
        _log(dist, f"train: wrote {out}")
    dist.barrier()
    return out


def _scheduler(optimizer: Any, config: TrainConfig, total: int) -> Any:
    """The learning-rate schedule of a run of ``total`` steps: a linear warm-up over
    ``warmup_ratio`` of them, then a cosine decay to 0 or the peak rate to the end."""
    from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup

    warmup = math.ceil(config.warmup_ratio * total)
    if config.lr_schedule == "constant":
        return get_constant_schedule_with_warmup(optimizer, warmup)
    return get_cosine_schedule_with_warmup(optimizer, warmup, total)


def _accumulate_gradients(net: Any, model: Any, passes: list[Batch],
                          option_ids: torch.Tensor | None, config: TrainConfig,
                          dist: distributed.Dist, compute: torch.dtype) -> dict[str, float]:
    """Forward and backward every pass of this process through ``net`` (``model`` or its
    DDP/FSDP wrapper); the step's sums over all processes.

    Each pass's loss is its share of the mean over the whole global batch (counts summed
    over processes first), so the gradients add up to those of one big batch.
    """
    n_ce, n_answers = dist.sum([sum(len(b.ce_index) for b in passes),
                                sum(len(b.answer_index) for b in passes)])
    sums = torch.zeros(4, dtype=torch.float64, device=dist.device)  # ce, kl, nll, agree
    n_tokens = n_padded = 0
    for j, batch in enumerate(passes):
        batch = batch.to(dist.device)
        with parallel.gradient_sync(net, enabled=j == len(passes) - 1):
            with torch.autocast(dist.device.type, dtype=torch.bfloat16,
                                enabled=compute == torch.bfloat16):
                logits = logits_at(net, batch.input_ids, batch.attention_mask, batch.keep,
                                   model)
            terms = loss_terms(logits, batch, option_ids)
            loss = objective(terms, n_ce, n_answers, config.target, config.soft_weight)
            (loss * dist.world_size).backward()  # DDP and FSDP average over processes
        sums += torch.stack([terms.ce.detach(), terms.kl.detach(), terms.answer_nll,
                             terms.agree]).double()
        n_tokens += batch.n_tokens
        n_padded += batch.input_ids.numel()
    totals = dist.sum([*sums.tolist(), n_tokens, n_padded])
    return dict(zip(("ce", "kl", "answer_nll", "agree", "tokens", "padded"), totals,
                    strict=True)) | {"n_ce": n_ce, "n_answers": n_answers}


def _record(step: int, per_epoch: int, sums: dict[str, float], lr: float, grad_norm: float,
            seconds: float, elapsed: float, config: TrainConfig) -> dict[str, Any]:
    """The metrics line of one step: means over the global batch, schedule, throughput."""
    n_ce, n_answers = sums["n_ce"], sums["n_answers"]
    terms = Terms(*(torch.tensor(sums[k]) for k in ("ce", "kl", "answer_nll", "agree")))
    record = {"step": step, "epoch": round(step / per_epoch, 4),
              "loss": objective(terms, n_ce, n_answers, config.target, config.soft_weight).item(),
              "ce": sums["ce"] / max(n_ce, 1), "lr": lr, "grad_norm": grad_norm,
              "tokens": int(sums["tokens"]), "tokens_per_s": sums["tokens"] / seconds,
              "pad_frac": 1 - sums["tokens"] / sums["padded"], "elapsed_s": round(elapsed, 3)}
    if n_answers:
        record |= {"kl": sums["kl"] / n_answers, "answer_nll": sums["answer_nll"] / n_answers,
                   "answer_agree": sums["agree"] / n_answers}
    return record


def _check_out(out: Path, config: TrainConfig, data_sha256: str) -> bool:
    """Whether ``out`` is new for this run (True) or this run's to resume (False); else raise."""
    saved = out / CONFIG_FILE
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; expected a directory for the run (a new "
                         f"one, or one to --resume)")
    if config.resume and not saved.is_file():
        raise ValueError(f"--resume: {out} holds no training run to continue (no "
                         f"{CONFIG_FILE}); leave out --resume to start a new run there")
    if saved.is_file():
        if not config.resume:
            raise ValueError(f"--out {out} already holds a training run; pass --resume to "
                             f"continue it or choose another directory")
        differences = TrainConfig.load(saved).differences(config)
        if differences:
            raise ValueError(f"cannot resume {out} with other settings: "
                             + "; ".join(differences))
        data = out / DATA_FILE
        if data.is_file() and json.loads(data.read_text(encoding="utf-8"))["sha256"] \
                != data_sha256:
            raise ValueError(f"cannot resume {out}: --data {config.data} is not the file the "
                             f"run was trained on (its SHA-256 differs)")
        return False
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"--out {out} is not empty and holds no training run")
    return True


def _keep_metrics(path: Path, step: int) -> None:
    """Drop the metric lines after ``step`` (written by a run killed after its checkpoint)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
    with atomic_open(path) as handle:
        handle.writelines(line + "\n" for line in kept)


def run_summary(steps: int, epochs: float, tokens: int, elapsed: float,
                data: TokenizedData) -> dict[str, Any]:
    """``train_summary.json``: how far the run went, how fast, and what of the data it kept."""
    return {"steps": steps, "epochs": epochs, "tokens": tokens,
            "train_seconds": round(elapsed, 3), "tokens_per_s": tokens / max(elapsed, 1e-9),
            "dialogues": len(data.examples), "skipped": data.n_skipped,
            "truncated": data.n_truncated, "dropped": data.n_dropped, "notes": data.notes}


def save_result(model: Any, tokenizer: Any, out: Path, config: TrainConfig,
                 state: dict[str, torch.Tensor] | None, summary: dict[str, Any],
                 data_sha256: str) -> None:
    """Write the adapter (LoRA) or the whole model (full; ``state``: its gathered weights
    under FSDP), the tokenizer, the model card (``data_sha256``: of the data trained on) and,
    where the chat template allows, the template with ``{% generation %}`` markers for TRL
    into ``out``.

    An adapter records a base that transformers and peft can load: a hub id, or a local
    directory (an embedded model's converted one). Everything is saved into a temporary
    directory first and then moved in file by file, so no file in ``out`` is ever half
    written.
    """
    from ..cards import write_model_card
    from ..llm.models import base_reference
    from .template import first_dialogues, write_training_template

    model.config.use_cache = True
    base = base_reference(config.model)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".result-"))
    try:
        if config.full:
            model.save_pretrained(tmp, state_dict=state)
        else:  # LoRA never touches the embeddings; "auto" would look the base up on the hub
            for adapter in model.peft_config.values():
                adapter.base_model_name_or_path = base
            model.save_pretrained(tmp, save_embedding_layers=False)
        tokenizer.save_pretrained(tmp)
        template, note = write_training_template(tmp, tokenizer, first_dialogues(config.data))
        print(f"train: {TEMPLATE_FILE}: {note}" if template else f"train: {note}",
              file=sys.stderr, flush=True)
        metrics = [json.loads(line) for line in
                   (out / METRICS_FILE).read_text(encoding="utf-8").splitlines() if line]
        write_model_card(tmp, config, base, summary, metrics, data_sha256,
                         note if template else None)
        for path in sorted(tmp.iterdir()):
            path.replace(out / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _summary_line(data: TokenizedData, model: Any, config: TrainConfig, total: int,
                  per_epoch: int, accum: int, dist: distributed.Dist,
                  compute: torch.dtype) -> str:
    lengths = data.lengths
    return (f"train: {len(lengths)} dialogues, {lengths.mean():.0f} tokens each on average; "
            f"{modeling.describe(model, config)}; {total} steps ({per_epoch} per epoch) of "
            f"{config.batch_size} x {accum} x {dist.world_size} dialogues; "
            f"{dist.device} {str(compute).removeprefix('torch.')}")


def _log(dist: distributed.Dist, message: str) -> None:
    if dist.is_main:
        print(message, file=sys.stderr, flush=True)

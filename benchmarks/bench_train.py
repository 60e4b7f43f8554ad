"""Training tokens per second: a naive fine-tuning loop against bayesflight's, in one run.

1. naive: float32, batches drawn at random and right-padded, logits over every position and
   the model's own loss (``model(..., labels=...)``) on the assistant tokens;
2. ours fp32: what ``bayesflight train`` does per step: length-grouped batches, logits only
   where a loss is taken, the trainer's loss functions;
3. ours bf16: the same under bf16 autocast, where the hardware has it (CUDA, or a CPU with
   AVX512-BF16 / AMX; ``--ours-dtype bf16`` forces it).

All train the same LoRA (or full) model on the same Bayesian dialogues, one step each in turn
(naive, ours fp32, ours bf16, naive, ...) so that a busy machine slows them alike; the rates
are medians over the steps and each ratio is the median of step-by-step ratios to the naive
step beside it. Tokens are non-padding tokens; the first step of each is a warm-up. With
``--peak-tflops`` the run also reports model FLOPs utilisation: 6 N tokens/s over the peak,
N the parameters outside the embedding and output layers (attention score FLOPs and the
frozen weights' skipped gradients under LoRA are not accounted for).

    python benchmarks/bench_train.py                                   # SmolLM2-135M, CPU
    python benchmarks/bench_train.py --device cuda --random-arch qwen2-0.5b --full \\
        --batch-size 16 --peak-tflops 989                              # H100 bf16 dense
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bayesflight.domains import get_domain
from bayesflight.llm import DEFAULT_MODEL, load_model
from bayesflight.llm.compat import logits_at
from bayesflight.teacher import TeachingConfig, generate
from bayesflight.teacher_jsonl import render
from bayesflight.train import TrainConfig
from bayesflight.train.batching import collate, epoch_batches
from bayesflight.train.data import tokenize_dialogues
from bayesflight.train.losses import loss_terms, objective
from bayesflight.train.modeling import prepare
from machine import cpu_name

# Randomly initialised architectures (for GPU throughput): SmolLM2-135M's own, and two of
# about half a billion parameters.
ARCHS = {
    "smollm2-135m": ("LlamaConfig", {"hidden_size": 576, "intermediate_size": 1536,
                                     "num_hidden_layers": 30, "num_attention_heads": 9,
                                     "num_key_value_heads": 3, "vocab_size": 49152,
                                     "tie_word_embeddings": True, "rms_norm_eps": 1e-5}),
    "qwen2-0.5b": ("Qwen2Config", {"hidden_size": 896, "intermediate_size": 4864,
                                   "num_hidden_layers": 24, "num_attention_heads": 14,
                                   "num_key_value_heads": 2, "vocab_size": 151936,
                                   "tie_word_embeddings": True}),
    "llama-0.5b": ("LlamaConfig", {"hidden_size": 1024, "intermediate_size": 2816,
                                   "num_hidden_layers": 24, "num_attention_heads": 16,
                                   "num_key_value_heads": 4, "vocab_size": 49152,
                                   "tie_word_embeddings": True}),
}




def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (else autocast would emulate it, slowly)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def dialogues(n: int, seed: int, variable: bool) -> list[dict]:
    """``n`` Bayesian dialogues of 5 rounds (the paper's), or of 1 to 5 rounds (``variable``)."""
    config = TeachingConfig(teacher="bayesian", domain=get_domain("flight"), n_dialogues=n,
                            seed=seed)
    records = [json.loads(line) for chunk in generate(config) for line in render(chunk, config)]
    if variable:
        rng = np.random.default_rng(seed)
        for r, keep in zip(records, rng.integers(1, 6, size=n), strict=True):
            r["messages"], r["option_probs"] = r["messages"][:2 * keep], r["option_probs"][:keep]
    return records


def build_model(args: argparse.Namespace):
    """(model, tokenizer) on the device in float32: a named model or a random architecture
    (then ``--model`` only gives the tokenizer, and may be a directory holding just that)."""
    if args.random_arch:
        import transformers

        tokenizer = (load_model(args.model, device="cpu", dtype="fp32")[1]
                     if not Path(args.model).is_dir()
                     else transformers.AutoTokenizer.from_pretrained(args.model))
        name, settings = ARCHS[args.random_arch]
        config = getattr(transformers, name)(**settings, max_position_embeddings=4096)
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        return model.to(args.device), tokenizer
    return load_model(args.model, device=args.device, dtype="fp32")


def measured_peak_tflops(device: str, n: int = 8192, repeats: int = 20) -> float:
    """The bf16 TFLOP/s of a large square matmul on ``device``: the peak MFU is taken against."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e12


def core_parameters(model) -> int:
    """Parameters outside the input embedding and the output layer."""
    skip = {id(p) for m in (model.get_input_embeddings(), model.get_output_embeddings())
            for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


def naive_step(model, examples, pad_id: int) -> int:
    """Forward and backward the way a first script does it; returns the tokens trained."""
    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    mask = torch.zeros_like(ids)
    for row, e in enumerate(examples):
        ids[row, :len(e)] = torch.from_numpy(e.input_ids)
        mask[row, :len(e)] = 1
        labels[row, :len(e)][torch.from_numpy(e.labelled)] = ids[row, :len(e)][
            torch.from_numpy(e.labelled)]
    device = next(model.parameters()).device
    loss = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                 labels=labels.to(device)).loss
    loss.backward()
    return int(mask.sum())


def our_step(model, examples, pad_id: int, option_ids, bf16: bool) -> int:
    """Forward and backward as the trainer does; returns the tokens trained."""
    device = next(model.parameters()).device
    batch = collate(examples, pad_id).to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = logits_at(model, batch.input_ids, batch.attention_mask, batch.keep)
    terms = loss_terms(logits, batch, option_ids)
    objective(terms, len(batch.ce_index), len(batch.answer_index), "hard", 1.0).backward()
    return batch.n_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="model (and tokenizer) to train; with --random-arch, the tokenizer")
    parser.add_argument("--random-arch", choices=sorted(ARCHS), default=None,
                        help="train a randomly initialised architecture instead (throughput)")
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    parser.add_argument("--lora-layers", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6, help="timed steps of each loop")
    parser.add_argument("--variable-rounds", action="store_true",
                        help="dialogues of 1 to 5 rounds instead of the paper's 5")
    parser.add_argument("--ours-dtype", choices=("auto", "fp32", "bf16"), default="auto",
                        help="also time ours in bf16: auto on CUDA or a CPU with native bf16")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak dense TFLOP/s in the compute dtype, for MFU "
                        "(on CUDA, default: measured here with a large bf16 matmul)")
    parser.add_argument("--methods", default="naive,ours fp32,ours bf16",
                        help="comma-separated loops to time (default: all three)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the model (dynamic shapes) before timing")
    parser.add_argument("--fused-adamw", action="store_true",
                        help="AdamW's fused CUDA kernel instead of the default for-each one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    model, tokenizer = build_model(args)
    n_core = core_parameters(model)
    model = prepare(model, TrainConfig(data="-", out="-", full=args.full,
                                       lora_layers=args.lora_layers))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5,
                                  fused=args.fused_adamw or None)
    if args.compile:
        model = torch.compile(model, dynamic=True)
    # A pool larger than the steps need, so that grouping by length has lengths to choose from.
    n_dialogues = max(64, args.batch_size * (args.steps + 1))
    data = tokenize_dialogues(dialogues(n_dialogues, args.seed, args.variable_rounds),
                              tokenizer, max_len=4096)
    option_ids = torch.as_tensor(data.option_ids, device=args.device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    lengths = data.lengths
    rng = np.random.default_rng(args.seed)
    naive = np.array_split(rng.permutation(len(lengths)), len(lengths) // args.batch_size)
    ours = epoch_batches(lengths, args.batch_size, args.seed, 0)
    on_cuda = args.device.startswith("cuda")
    bf16 = args.ours_dtype == "bf16" or (args.ours_dtype == "auto" and (
        torch.cuda.is_bf16_supported() if on_cuda else cpu_has_bf16()))

    def timed(step, batch) -> tuple[int, float]:
        if on_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        tokens = step([data.examples[i] for i in batch])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if on_cuda:
            torch.cuda.synchronize()
        return tokens, time.perf_counter() - start

    # name: (step function, batches, compute dtype); "ours fp32" separates the two gains.
    methods = {
        "naive": (lambda ex: naive_step(model, ex, pad_id), naive, "fp32"),
        "ours fp32": (lambda ex: our_step(model, ex, pad_id, option_ids, False), ours, "fp32"),
    }
    if bf16:
        methods["ours bf16"] = (lambda ex: our_step(model, ex, pad_id, option_ids, True), ours,
                                "bf16 autocast")
    wanted = [m.strip() for m in args.methods.split(",")]
    methods = {name: m for name, m in methods.items() if name in wanted}
    if not methods:
        raise SystemExit(f"--methods: none of {wanted} is available here")
    if args.peak_tflops is None and on_cuda:
        args.peak_tflops = measured_peak_tflops(args.device)
        print(f"peak: {args.peak_tflops:.0f} TFLOP/s (bf16 8192^3 matmul, measured)")
    rates: dict[str, list[float]] = {name: [] for name in methods}
    for i in range(args.steps + 1):
        for name, (step, batches, _) in methods.items():
            tokens, seconds = timed(step, batches[i])
            if i > 0:  # the first step of each is a warm-up
                rates[name].append(tokens / seconds)

    device = torch.cuda.get_device_name() if on_cuda else (
        f"{cpu_name()}, {torch.get_num_threads()} threads")
    what = args.random_arch or args.model
    kind = "full" if args.full else "LoRA r=16 " + (
        "all layers" if args.lora_layers is None else f"top {args.lora_layers} layers")
    kind += "".join(f", {flag}" for flag, on in (("torch.compile", args.compile),
                                                   ("fused AdamW", args.fused_adamw)) if on)
    print(f"{what} ({n_core / 1e6:.0f}M core parameters), {kind}, batch {args.batch_size}, "
          f"dialogues of {lengths.mean():.0f} tokens on average; {device}")
    print(f"  median over {args.steps} interleaved steps; ratio: median of step-by-step ratios")
    naive_rates = np.array(rates["naive"] if "naive" in rates else next(iter(rates.values())))
    for name, (_, batches, dtype) in methods.items():
        used = batches[:args.steps + 1]
        pad = 1 - sum(lengths[b].sum() for b in used) / sum(len(b) * lengths[b].max() for b in used)
        rate = float(np.median(rates[name]))
        line = (f"  {name:9s}  {dtype:13s}  padding {pad:5.1%}  {rate:9.1f} tokens/s  "
                f"x{np.median(np.array(rates[name]) / naive_rates):.2f}")
        if args.peak_tflops:
            line += f"  MFU {6 * n_core * rate / (args.peak_tflops * 1e12):6.1%}"
        print(line)

if __name__ == "__main__":
    main()

"""``bayesflight probe``: linear probes of a model's frozen hidden states at the answers."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import __version__
from ..llm.embedded import DEFAULT_MODEL
from ..llm.probe import STATIC_ASSISTANTS, TARGETS
from .options import add_device_argument, add_dtype_argument, non_negative_float, positive_int


def layer_list(text: str) -> list[int] | None:
    """``all`` (None: every layer) or comma-separated non-negative layer indices."""
    if text == "all":
        return None
    try:
        layers = [int(part) for part in text.split(",")]
    except ValueError:
        layers = [-1]
    if not layers or min(layers) < 0:
        raise argparse.ArgumentTypeError(f"expected 'all' or layer numbers such as 0,6,12, "
                                         f"got {text!r}")
    return sorted(set(layers))


def target_list(text: str) -> list[str]:
    """Comma-separated probe targets, each one of TARGETS."""
    names = [part for part in text.split(",") if part]
    bad = [name for name in names if name not in TARGETS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(TARGETS)}, got {text!r}")
    return list(dict.fromkeys(names))


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "probe", help="linear probes of a model's hidden states at the answers",
        description="Run a model over two files of teaching dialogues (bayesflight generate), "
                    "keep every layer's hidden state just before each answer's option "
                    "number, fit a linear probe of the teacher's answer on the --data states "
                    "of each layer and score it on the --test states, by round: is the "
                    "teacher's answer (and its update over the rounds) already readable in "
                    "the model? Prints the table and writes OUT/probe.json.")
    parser.add_argument("--data", required=True,
                        help="dialogues the probes are fitted on (generate --user-pool train)")
    parser.add_argument("--test", required=True,
                        help="dialogues the probes are scored on, of other users (generate "
                             "--user-pool eval)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"embedded name, local directory or hub id (default {DEFAULT_MODEL})")
    parser.add_argument("--adapter", default=None,
                        help="a PEFT adapter directory on top (default: none)")
    parser.add_argument("--layers", type=layer_list, default=None,
                        help="'all' or the layers to probe, e.g. 0,6,12 (0: the embeddings; "
                             "default all)")
    parser.add_argument("--targets", type=target_list, default=["teacher"],
                        help="what the probes predict, comma-separated: teacher (its answer), "
                             "choice (the user's), prior-majority (the Bayesian rule with no "
                             "evidence: a static rule of all features), cheapest (one feature "
                             "compared) (default teacher)")
    parser.add_argument("--l2", type=non_negative_float, default=1e-2,
                        help="the probes' L2 penalty on standardised states (default 0.01)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use the first N dialogues of each file (default: all)")
    parser.add_argument("--batch-size", type=positive_int, default=4,
                        help="dialogues per forward pass (default 4)")
    add_device_argument(parser)
    add_dtype_argument(parser)
    parser.add_argument("--out", default="runs/probe",
                        help="output directory (default runs/probe)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    from ..assistants import make_assistant
    from ..cli import error_line
    from ..domains import get_domain
    from ..fileio import write_json
    from ..llm.models import check_model_source
    from ..llm.probe import answer_states, check_records, format_probe, probe_layers
    from ..train.data import read_dialogues

    check_model_source(args.model)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    files, shapes = {}, {}
    for name in ("data", "test"):  # everything that can be refused, before the model loads
        path = getattr(args, name)
        try:
            files[name] = read_dialogues(path)[:args.limit]
        except (ValueError, OSError) as err:
            raise ValueError(f"--{name}: {error_line(err)}") from None
        shapes[name] = check_records(files[name], f"--{name} {path}")
    if shapes["data"] != shapes["test"]:
        (d, kd), (t, kt) = shapes["data"], shapes["test"]
        raise ValueError(f"--data has {', '.join(d)} dialogues of {kd} options and --test "
                         f"{', '.join(t)} of {kt}: a probe is scored on the kind of dialogue "
                         f"it was fitted on")
    static = [t for t in args.targets if t in STATIC_ASSISTANTS]
    for target in static:
        for domain in shapes["data"][0]:
            try:
                make_assistant(target, get_domain(domain))
            except ValueError as err:
                raise ValueError(f"--targets {target}: {err}") from None
    data, test = files["data"], files["test"]
    from ..llm.models import load_model

    model, tokenizer = load_model(args.model, adapter=args.adapter, device=args.device,
                                  dtype=args.dtype)
    depth = model.config.get_text_config().num_hidden_layers + 1
    if args.layers is not None and max(args.layers) >= depth:
        raise ValueError(f"--layers must lie in 0..{depth - 1} for this model (0: the "
                         f"embeddings), got {max(args.layers)}")
    states = {}
    for name, records in (("data", data), ("test", test)):
        def progress(done: int, name: str = name, total: int = len(records)) -> None:
            print(f"\r{name}: {done}/{total} dialogues", end="", file=sys.stderr, flush=True)

        states[name] = answer_states(model, tokenizer, records, args.batch_size,
                                     assistants=static, source=f"--{name} {getattr(args, name)}",
                                     progress=progress)
        print(file=sys.stderr)
        for note in states[name].notes:
            print(f"bayesflight probe: note: {note}", file=sys.stderr)
    layers = list(range(depth)) if args.layers is None else args.layers
    result = {"targets": {target: probe_layers(states["data"], states["test"], layers,
                                               args.l2, target) for target in args.targets}}
    result.update({"command": "probe", "version": __version__, "model": args.model,
                   "adapter": args.adapter, "data": args.data, "test": args.test,
                   "limit": args.limit, "batch_size": args.batch_size,
                   "notes": [n for side in states.values() for n in side.notes],
                   "device": str(next(model.parameters()).device),
                   "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
                   "seconds": round(time.perf_counter() - start, 2)})
    print(f"linear probes fitted on {len(states['data'])} answers of the --data dialogues, "
          f"scored on {len(states['test'])} of the --test dialogues by round (agreement with "
          "the target; accuracy: the user's choice)")
    for by_target in result["targets"].values():
        print(f"\n{format_probe(by_target)}")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "probe.json", result)
    print(f"\nwrote {out / 'probe.json'} in {result['seconds']:.0f} s", file=sys.stderr)
    return 0

"""A small language model to train from scratch: a llama with random weights and a tokenizer
whose words are the domains' values.

The paper fine-tunes pretrained LLMs; a model trained only on teaching dialogues asks the
other question, whether a transformer learns to update from Bayesian teaching with nothing
else to go on, and it is fast enough to try on a CPU (a 1M-parameter model trains at about
15k tokens/s on 2 cores, against some 500 for LoRA on SmolLM2-135M). Pretraining is what
lets an LLM read ``12:24 PM`` as one time of day; a model without it would have to learn that
from the answers alone, so here every feature value of every domain (``12:24 PM``, ``10 hr 15
min``, ``$190``) is one pre-token that the tokenizer's BPE merges into one word, and the rest
of the text splits into words, single digits (so the option numbers ``1`` .. ``9`` are one
token each, as the scorer needs), spaces and punctuation. The BPE is trained on dialogues of
every domain, with and without belief statements, in the ChatML format the model's chat
template writes; it round-trips every text (byte-level). Everything is deterministic for a
given seed and nothing is downloaded.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import chat
from ..domains import DOMAIN_NAMES, Domain, get_domain
from ..fileio import atomic_open
from ..statements import statement

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# ChatML with no default system turn: a model trained from scratch needs none.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class ScratchConfig:
    """The shape of a from-scratch model and what its tokenizer is trained on."""

    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    vocab_size: int = 1024  # an upper bound: the BPE stops when no pair is left to merge
    corpus_dialogues: int = 200  # per domain and form (with and without statements)
    seed: int = 0
    ordered_values: bool = False  # value embeddings start ordered: see order_value_embeddings

    def check(self) -> None:
        """ValueError naming the option for a shape no llama can take."""
        for name in ("hidden_size", "layers", "heads", "corpus_dialogues"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, "
                                 f"got {getattr(self, name)}")
        if self.hidden_size % self.heads or (self.hidden_size // self.heads) % 2:
            raise ValueError(f"--hidden-size must be a multiple of 2 x --heads (an even "
                             f"head size for rotary embeddings), got {self.hidden_size} and "
                             f"{self.heads} heads")
        if self.vocab_size < 512:
            raise ValueError(f"--vocab-size must be >= 512 (the 256 bytes, the special "
                             f"tokens and the domains' values), got {self.vocab_size}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")


def pretokenize_pattern(domains: tuple[Domain, ...]) -> str:
    """The regex whose matches are the pre-tokens: every feature value of ``domains`` (longest
    first, so ``$1000`` wins over ``$100``), then single digits, words with their leading
    space, one whitespace character, one other character.

    A word takes a space before it but never a newline: the chat template ends a turn's
    header with a newline, and a token ``\nSo`` would straddle the generation prompt, so that
    a model taught on whole dialogues would meet at evaluation a prompt it never saw split
    that way (and the trainer's marked template could not label what bayesflight labels)."""
    values = sorted({v for d in domains for f in d.features for v in f.values},
                    key=lambda v: (-len(v), v))
    value = "|".join(re.escape(v) for v in values)
    # A word takes the space before it, except where a value starts (``: no amenities``):
    # the space then stays a pre-token of its own, as before every other value.
    word = rf" ?(?!(?:{value})(?![A-Za-z]))[A-Za-z]+"
    return "|".join([value, r"\d", word, r"\s", r"[^\sA-Za-z\d]"])


def corpus(domains: tuple[Domain, ...], per_domain: int, seed: int) -> list[list[dict]]:
    """Dialogues to train the tokenizer on: for each domain, ``per_domain`` five-round chats
    with random options, answers and choices, and as many whose answers carry a random belief
    statement. Only the text's words matter to the BPE, not who is right."""
    rng = np.random.default_rng(seed)
    dialogues = []
    for domain in domains:
        for stated in (False, True):
            for _ in range(per_domain):
                rounds = domain.sample(rng, (5, 3))
                answers, choices = rng.integers(0, 3, 5), rng.integers(0, 3, 5)
                statements = None
                if stated:
                    statements = [statement(domain, rng.integers(-2, 3, domain.n_features))
                                  for _ in range(5)]
                dialogues.append(chat.conversation(domain, rounds, answers, choices,
                                                   domain.sample(rng, (3,)), statements))
    return dialogues


def value_tokenizer(config: ScratchConfig = ScratchConfig()) -> Any:
    """A ``PreTrainedTokenizerFast`` with ChatML special tokens, the chat template and one
    token per feature value of every domain, BPE-trained on :func:`corpus`."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    domains = tuple(get_domain(name) for name in DOMAIN_NAMES)
    backend = Tokenizer(models.BPE())
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pretokenize_pattern(domains)), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_end|>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    texts = [tokenizer.apply_chat_template(d, tokenize=False)
             for d in corpus(domains, config.corpus_dialogues, config.seed)]
    # Every value once more on its own line, so that even a rare one is merged into a word.
    texts += [f"{f.label}: {v}" for d in domains for f in d.features for v in f.values]
    trainer = trainers.BpeTrainer(vocab_size=config.vocab_size,
                                  special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_end|>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>", chat_template=CHAT_TEMPLATE)


def value_ranks(tokenizer: Any) -> dict[tuple[int, str], float]:
    """``(token id, feature label) -> rank`` in [-1, 1] (lowest level -1, highest +1) for every
    feature value of every domain that is one token and not a bare digit (digits also number
    the options). A label names one axis across domains: hotels' ``price`` is flights'."""
    ranks: dict[tuple[int, str], float] = {}
    for name in DOMAIN_NAMES:
        for feature in get_domain(name).features:
            for level, value in enumerate(feature.values):
                ids = tokenizer(value, add_special_tokens=False)["input_ids"]
                if len(ids) == 1 and not value.isdigit():
                    ranks[ids[0], feature.label] = 2 * level / (feature.n_levels - 1) - 1
    return ranks


def order_value_embeddings(embedding: Any, tokenizer: Any, seed: int) -> dict[str, Any]:
    """Add to each value token's embedding row its rank along its feature's own direction, so
    that ``08:24 PM`` starts out later than ``12:24 PM`` and ``$190`` cheaper than ``$280``.

    This is what pretraining gives an LLM and a random model lacks: without it the order of
    11 prices or times must be learnt from which option users chose, before anything else can
    be. The directions are orthonormal (one per feature label, seeded by ``seed``), and a rank
    of +-1 adds a vector as long as the rows' mean length, so order and identity weigh the
    same. Changes ``embedding`` (vocabulary x hidden) in place; returns the directions."""
    import torch

    ranks = value_ranks(tokenizer)
    labels = sorted({label for _, label in ranks})
    hidden = embedding.shape[1]
    if len(labels) > hidden:
        raise ValueError(f"--hidden-size must be >= {len(labels)} (one direction per feature) "
                         f"for --ordered-values, got {hidden}")
    generator = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(hidden, len(labels), generator=generator,
                                           dtype=torch.float64))
    axes = {label: basis[:, k].to(embedding.dtype) for k, label in enumerate(labels)}
    length = embedding.norm(dim=1).mean()
    for (token, label), rank in ranks.items():
        embedding[token] += length * rank * axes[label]
    return axes


def init_model(out: str | Path, config: ScratchConfig = ScratchConfig()) -> dict[str, int]:
    """Write a randomly initialised llama and its :func:`value_tokenizer` into the new
    directory ``out`` (loadable by ``--model out`` and by transformers), with a model card
    and ``scratch_config.json``; return its parameter and vocabulary counts."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config.check()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out}: exists and is not an empty directory")
    tokenizer = value_tokenizer(config)
    llama = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size,
        intermediate_size=4 * config.hidden_size, num_hidden_layers=config.layers,
        num_attention_heads=config.heads, num_key_value_heads=config.heads,
        max_position_embeddings=4096, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(llama)
    if config.ordered_values:
        with torch.no_grad():
            order_value_embeddings(model.get_input_embeddings().weight, tokenizer, config.seed)
    counts = {"parameters": sum(p.numel() for p in model.parameters()),
              "vocabulary": len(tokenizer)}
    staging = out.with_name(f".{out.name}.partial")
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    with atomic_open(staging / "scratch_config.json", "w") as f:
        json.dump({**asdict(config), **counts}, f, indent=2)
    (staging / "README.md").write_text(_card(config, counts), encoding="utf-8")
    if out.exists():
        out.rmdir()
    staging.rename(out)  # the directory appears whole or not at all
    return counts


ORDERED_NOTE = ("; each value's embedding starts at its rank along one direction per feature "
                "(`--ordered-values`)")


def _card(config: ScratchConfig, counts: dict[str, int]) -> str:
    return (
        "# A llama with random weights, made by `bayesflight init-model`\n\n"
        f"{counts['parameters']:,} parameters: {config.layers} layers, hidden size "
        f"{config.hidden_size}, {config.heads} heads, tied embeddings; a byte-level BPE "
        f"tokenizer of {counts['vocabulary']} tokens in which every feature value of every "
        f"bayesflight domain is one token{ORDERED_NOTE if config.ordered_values else ''}. "
        f"Seed {config.seed}. Untrained: teach it with `bayesflight train --full --model DIR`.\n")

"""Tiny randomly initialised llama models with a ChatML tokenizer, built in code for tests.

``make_tiny_model(directory)`` writes a model + tokenizer directory that ``load_model`` and
``transformers`` load like any checkpoint: a byte-level BPE tokenizer trained on the paper's
chat texts (digits are single tokens, as in SmolLM2) and a 2-layer llama with random weights.
Everything is deterministic for a given ``seed``; nothing is downloaded. With ``portable=True``
the model is also the same under every version of transformers and tokenizers (weights from a
NumPy draw, a byte tokenizer without learned merges), for tests that pin exact numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from bayesflight import chat
from bayesflight.domains import FLIGHT, HOTEL

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def chat_corpus(seed: int = 0, n_dialogues: int = 40) -> list[str]:
    """Paper-format dialogue texts (flights and hotels) to train the tiny tokenizer on."""
    rng = np.random.default_rng(seed)
    texts = []
    for i in range(n_dialogues):
        domain = FLIGHT if i % 2 == 0 else HOTEL
        rounds = domain.sample(rng, (5, 3))
        recs, prefs = rng.integers(0, 3, 5), rng.integers(0, 3, 5)
        messages = chat.conversation(domain, rounds, recs, prefs, domain.sample(rng, (3,)))
        texts.extend(m["content"] for m in messages)
    return texts


def make_tokenizer(split_digits: bool = True, chat_template: bool = True, vocab_size: int = 600,
                   trained: bool = True):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ChatML special tokens.

    ``split_digits`` keeps every digit its own pre-token (SmolLM2's behaviour); without it the
    space before a digit can merge into it (`` 2`` as one token), as in GPT-2-style tokenizers.
    ``trained=False``: no merges are learned, every byte is a token (ids: the special tokens,
    then the byte alphabet in order), so no version of the BPE trainer can change it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if trained:
        backend = Tokenizer(models.BPE())
    else:
        vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *sorted(alphabet)])}
        backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
        backend.add_special_tokens(SPECIAL_TOKENS)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        if split_digits else byte_level
    )
    backend.decoder = decoders.ByteLevel()
    if trained:
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                      show_progress=False, initial_alphabet=alphabet)
        backend.train_from_iterator(chat_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_end|>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>",
    )
    if chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def make_tiny_model(
    directory: str | Path,
    seed: int = 0,
    hidden_size: int = 64,
    n_layers: int = 2,
    split_digits: bool = True,
    chat_template: bool = True,
    init_scale: float = 0.2,
    portable: bool = False,
) -> Path:
    """Save a tiny random llama causal LM and its tokenizer into ``directory``; return it.

    ``init_scale`` (the weights' standard deviation) is larger than a real model's so that the
    random model's next-token distributions are far from uniform and differences show.
    ``portable``: the byte tokenizer without merges and every matrix drawn by NumPy from
    ``seed`` (the norms stay ones), instead of transformers' own initialisation, which may
    change between its versions.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = make_tokenizer(split_digits=split_digits, chat_template=chat_template,
                               trained=not portable)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        initializer_range=init_scale,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if portable:
        _draw_weights(model, seed, init_scale)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _draw_weights(model, seed: int, scale: float) -> None:
    """Set every matrix of ``model`` from a seeded NumPy normal draw, in the order of the
    parameters' names; vectors (the RMSNorm weights) are set to ones."""
    import torch

    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            if param.dim() < 2:
                param.fill_(1.0)
            else:
                draw = rng.normal(0.0, scale, tuple(param.shape)).astype(np.float32)
                param.copy_(torch.from_numpy(draw))

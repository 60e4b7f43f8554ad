"""Next-token scores and greedy continuations for many prompts that share a long prefix.

The paper's protocol asks a model about N held-out sets after the same conversation. The
shared prefix (the conversation so far) is encoded once into a KV cache; each prompt's own
suffix is then run in batches on top of a copy of that cache. The cache is kept between
calls and cropped to the longest common prefix of the old and new prompts, so a growing
conversation is only ever encoded once. Prompts are token lists; scores are raw logits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from transformers import DynamicCache

from .compat import with_cache


def common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    """The length of the longest common prefix of token sequences."""
    if not seqs:
        return 0
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for other in seqs[1:]:
        i = 0
        while i < n and other[i] == first[i]:
            i += 1
        n = i
    return n


class PrefixScorer:
    """Scores the next token after token prompts, reusing one KV cache for their common prefix.

    ``use_cache=False`` runs a fresh forward over every whole prompt instead (the naive way,
    kept as the reference the cached path must agree with). Suffixes are run
    ``batch_size`` at a time, left-padded so that every row ends in the last column; the
    padding sits between the prefix and the suffix and is masked out, and each row's
    position ids continue from the prefix, so a row sees exactly its own prompt.

    ``shared_prefix=False`` is for prompts of many conversations (every user of an evaluation
    set at once, on a GPU): no prefix is kept, whole prompts run ``batch_size`` at a time,
    longest first so that a batch holds prompts of similar length.
    """

    def __init__(self, model, batch_size: int = 16, use_cache: bool = True,
                 shared_prefix: bool = True):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model = model
        self.batch_size = batch_size
        self.use_cache = use_cache
        self.shared_prefix = shared_prefix
        self.device = next(model.parameters()).device
        self._tokens: list[int] = []
        self._cache = None

    @torch.inference_mode()
    def _extend_prefix(self, tokens: list[int]) -> None:
        """Make the kept cache hold exactly ``tokens``: crop what differs, encode the rest."""
        keep = common_prefix_length([self._tokens, tokens])
        if self._cache is None or keep == 0:
            self._cache, self._tokens, keep = DynamicCache(config=self.model.config), [], 0
        elif keep < len(self._tokens):
            self._cache.crop(keep - len(self._tokens))
            self._tokens = self._tokens[:keep]
        if keep < len(tokens):
            ids = torch.tensor([tokens[keep:]], device=self.device)
            self.model(input_ids=ids, logits_to_keep=1, **with_cache(self.model, self._cache))
            self._tokens = list(tokens)

    def _batch_cache(self, batch: int, split: int):
        """A copy of the prefix cache (its first ``split`` tokens) repeated ``batch`` times;
        the forward extends the copy, never the kept cache."""
        if split == 0:
            return DynamicCache(config=self.model.config)
        data = [(layer.keys.expand(batch, -1, -1, -1), layer.values.expand(batch, -1, -1, -1))
                for layer in self._cache.layers]
        return DynamicCache(ddp_cache_data=data)

    def _split(self, prompts: Sequence[Sequence[int]]) -> tuple[int, int]:
        """Encode the prompts' common prefix, leaving every prompt at least one own token;
        return its length and the batch size to use (1 without a shared prefix, so that no
        row is only padding)."""
        if not prompts or any(len(p) == 0 for p in prompts):
            raise ValueError("prompts must be a non-empty list of non-empty token lists")
        if not self.use_cache:
            return 0, 1
        if not self.shared_prefix:
            return 0, self.batch_size
        split = min(common_prefix_length(prompts), min(len(p) for p in prompts) - 1)
        self._extend_prefix(list(prompts[0][:split]))
        return split, (self.batch_size if split > 0 else 1)

    def _left_pad(self, suffixes: Sequence[Sequence[int]], split: int):
        """input_ids, attention_mask (over prefix + suffix) and position_ids for a batch."""
        b, width = len(suffixes), max(len(s) for s in suffixes)
        ids = torch.zeros((b, width), dtype=torch.long)
        mask = torch.zeros((b, split + width), dtype=torch.long)
        mask[:, :split] = 1
        positions = torch.full((b, width), split, dtype=torch.long)
        for i, s in enumerate(suffixes):
            n = len(s)
            ids[i, width - n:] = torch.tensor(s)
            mask[i, split + width - n:] = 1
            positions[i, width - n:] = torch.arange(split, split + n)
        return ids.to(self.device), mask.to(self.device), positions.to(self.device)

    @torch.inference_mode()
    def next_logits(
        self, prompts: Sequence[Sequence[int]], candidates: Sequence[int]
    ) -> np.ndarray:
        """The logits of the token ids ``candidates`` as the next token after each prompt:
        (N, C)."""
        cand = torch.tensor(list(candidates), device=self.device)
        split, size = self._split(prompts)
        order = self._order(prompts)
        out = []
        for start in range(0, len(prompts), size):
            chunk = [prompts[i][split:] for i in order[start:start + size]]
            if self.use_cache:
                ids, mask, positions = self._left_pad(chunk, split)
                cache = self._batch_cache(len(chunk), split)
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    logits_to_keep=1, **with_cache(self.model, cache)).logits
            else:
                ids = torch.tensor(chunk, device=self.device)
                logits = self.model(input_ids=ids, use_cache=False, logits_to_keep=1).logits
            out.append(logits[:, -1, cand].float().cpu())
        return torch.cat(out).double().numpy()[np.argsort(order)]

    def _order(self, prompts: Sequence[Sequence[int]]) -> np.ndarray:
        """The order to run prompts in: as given, or longest first without a shared prefix."""
        if self.shared_prefix:
            return np.arange(len(prompts))
        return np.argsort([-len(p) for p in prompts], kind="stable")

    @torch.inference_mode()
    def greedy(
        self,
        prompts: Sequence[Sequence[int]],
        max_new_tokens: int,
        stop_ids: Sequence[int],
        settled: Callable[[list[int]], bool] | None = None,
    ) -> list[list[int]]:
        """Greedy continuations of every prompt, each cut after its first stop token or as soon
        as ``settled(tokens so far)`` says more tokens cannot change what is read from it
        (with ``use_cache=False``: one prompt at a time from an empty cache)."""
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        split, size = self._split(prompts)
        stops = set(stop_ids)
        order = self._order(prompts)
        results: list[list[int]] = []
        for start in range(0, len(prompts), size):
            chunk = [prompts[i][split:] for i in order[start:start + size]]
            ids, mask, positions = self._left_pad(chunk, split)
            cache = self._batch_cache(len(chunk), split)
            rows: list[list[int]] = [[] for _ in chunk]
            done = [False] * len(chunk)
            for _ in range(max_new_tokens):
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    logits_to_keep=1, **with_cache(self.model, cache)).logits
                token = logits[:, -1].argmax(-1)
                for i, t in enumerate(token.tolist()):
                    if not done[i]:
                        rows[i].append(t)
                        done[i] = t in stops or (settled is not None and settled(rows[i]))
                if all(done):
                    break
                ids, positions = token[:, None], positions[:, -1:] + 1
                mask = torch.cat([mask, mask.new_ones((len(chunk), 1))], dim=1)
            results.extend(rows)
        return [results[i] for i in np.argsort(order)]

"""Teacher-forced diagnostics of a model taught with statements, scores and evidence.

On the exact conversations of a teaching file (``bayesflight generate``), for each assistant
turn: the mean loss per token of each part of the turn (evidence, statement, scores, answer;
the evidence's words, its differences and, in the worked form, their operands apart), then
the model's greedy evidence and greedy statement after the exact conversation before them,
and how often each is the teacher's, by round (the evidence also feature by feature). Where
belief mode lets a model's own mistakes compound, this measures each step alone.

    python docs/diagnostics/teacher_forced.py --model s-f2o2ev2 --data probe64.jsonl \
        --domain flight-2 --dialogues 40
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict

import numpy as np
import torch
from bayesflight.domains import get_domain
from bayesflight.evidence import feature_clauses, split_evidence
from bayesflight.option_scores import split_turn
from bayesflight.statements import START, parse_statement
from transformers import AutoModelForCausalLM, AutoTokenizer

ANSWER = "The best option is"
# In the evidence: each feature's difference, after its two operands in the worked form.
WORKED = re.compile(r" (\d+) - (\d+) = ([+-]?\d+)[,.]")
DIFFERENCE = re.compile(r" ([+-]?\d+)[,.]")


def parts(content: str) -> dict[str, tuple[int, int]]:
    """Where each part of an assistant turn lies in its text: name -> (start, end)."""
    s0 = content.find(START)
    s1 = content.index(".", s0) + 1
    a0 = content.index(ANSWER)
    spans = {"evidence": (0, s0), "statement": (s0, s1), "scores": (s1, a0),
             "answer": (a0, len(content))}
    return {name: span for name, span in spans.items() if span[1] > span[0]}


def evidence_kind(evidence: str, at: int) -> str:
    """What the character at ``at`` of an evidence text is: one of its operands (worked
    form), one of its differences, or a word (names, labels, signs between numbers)."""
    for match in WORKED.finditer(evidence):
        if match.start(3) <= at < match.end(3):
            return "evidence differences"
        if match.start(1) <= at < match.end(2) and evidence[at].isdigit():
            return "evidence operands"
    if not WORKED.search(evidence):
        for match in DIFFERENCE.finditer(evidence):
            if match.start(1) <= at < match.end(1):
                return "evidence differences"
    return "evidence words"


def greedy(model, tokenizer, text: str, n: int) -> str:
    """The model's greedy continuation of ``text``, ``n`` tokens at most."""
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=n, do_sample=False)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--domain", default="flight")
    parser.add_argument("--dialogues", type=int, default=40,
                        help="dialogues whose turns are generated greedily (default 40)")
    args = parser.parse_args()
    domain = get_domain(args.domain)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    records = [json.loads(line)["messages"] for line in open(args.data, encoding="utf-8")]
    loss, count = defaultdict(float), defaultdict(int)
    for messages in records:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        ids = torch.tensor([enc["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
        nll = -logp.gather(1, ids[0, 1:, None])[:, 0].numpy()
        spans, at = [], 0
        for message in messages:
            start = text.index(message["content"], at)
            at = start + len(message["content"])
            if message["role"] == "assistant":
                spans += [(start + a, start + b, name, message["content"][a:b])
                          for name, (a, b) in parts(message["content"]).items()]
        for i, (a, b) in enumerate(enc["offset_mapping"][1:]):
            for s, e, name, part in spans:
                if s <= a < e:
                    loss[name] += float(nll[i])
                    count[name] += 1
                    if name == "evidence":  # its numbers apart from its words
                        token = text[a:b]
                        first = a + len(token) - len(token.lstrip())
                        kind = (evidence_kind(part, first - s) if token.strip()
                                else "evidence words")
                        loss[kind] += float(nll[i])
                        count[kind] += 1
    for name in ("evidence", "evidence words", "evidence operands", "evidence differences",
                 "statement", "scores", "answer"):
        if count[name]:
            print(f"{name}: {loss[name] / count[name]:.4f} nats/token over {count[name]} tokens")
    evidence, stated, directions = defaultdict(list), defaultdict(list), defaultdict(list)
    by_feature = {f.label: defaultdict(list) for f in domain.features}
    for messages in records[:args.dialogues]:
        for j in range(1, len(messages), 2):
            content, r = messages[j]["content"], j // 2
            prompt = tokenizer.apply_chat_template(messages[:j], tokenize=False,
                                                   add_generation_prompt=True)
            seen, rest = split_evidence(content)
            if r > 0 and seen:  # the evidence after the exact conversation
                written = greedy(model, tokenizer, prompt, 32 + 40 * domain.n_features)
                own = split_evidence(written)[0]
                evidence[r].append(own == seen)
                pairs = zip(domain.features, feature_clauses(domain, own),
                            feature_clauses(domain, seen), strict=True)
                for feature, said, want in pairs:
                    by_feature[feature.label][r].append(said == want)
            head = content[:content.index(START) + len(START) - 1]  # through "So far:"
            written = START[:-1] + greedy(model, tokenizer, prompt + head,
                                          16 + 12 * domain.n_features)
            said, want = split_turn(written)[0], split_turn(rest)[0]
            stated[r].append(said == want)
            a, b = parse_statement(domain, said), parse_statement(domain, want)
            directions[r].append(0.0 if a is None else float(np.mean(np.sign(a) == np.sign(b))))

    def by_round(shares: dict[int, list]) -> str:
        return ", ".join(f"{r}: {np.mean(v):.3f}" for r, v in sorted(shares.items()))

    print(f"greedy evidence exact, by round: {by_round(evidence)}")
    for label, shares in by_feature.items():
        print(f"  {label}: {by_round(shares)}")
    print(f"greedy statement exact, by round: {by_round(stated)}")
    print(f"greedy statement directions right, by round: {by_round(directions)}")


if __name__ == "__main__":
    main()

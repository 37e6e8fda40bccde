"""
What the prompt's own start token costs when memory is laid out before it (docs/METHOD.md, mem_hide_start), on the
fact benchmark's dev split: teacher-forced top-1 (is the answer's first token the top next token?) of each question
and paraphrase with its fact, every fact read (the relevance check off), one store of the split's facts, read as

    context            the fact's paragraph in the context: <bos> fact question (Gemma; SmolLM2 has no <bos>)
    context_two_starts the same text with a second start before the question: <bos> fact <bos> question
    method             the recall setting, the prompt's start shown: the model reads <bos> fact <bos> question
    method_hidden      the same, mem_hide_start = 1: the prompt's <bos> hidden behind the fact's
    method_no_sink     mem_sink off: fact (read after <bos>) then <bos> question

and the share of prompts whose chosen text is their fact.

    python dev/prompt_start.py gemma3      # or smollm2 (no <bos>: the prompt's first token is its "\n")
"""
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from memory import with_chunks  # noqa: E402
from mtm.entry import open_memory  # noqa: E402
from mtm.loading import load_model  # noqa: E402
from mtm.method.settings import MemorySettings  # noqa: E402
from mtm.tasks.fact_data import answer_ids, answer_score, load_facts  # noqa: E402
from relevance import recall_setting  # noqa: E402

WAYS = ("context", "context_two_starts", "method", "method_hidden", "method_no_sink", "right_text")


def main(model_name, split="dev"):
    model, tokenizer = load_model(model_name)
    cfg = recall_setting(model_name)
    settings = replace(MemorySettings.of(cfg), chunk_min_overlap=None, mem_hide_start=0)  # every fact read
    facts = load_facts(split)
    method = open_memory(model, tokenizer, settings, texts=[f["memory"] for f in facts], kv_dtype="float32")
    memories = dict(method=method, **{way: open_memory(model, tokenizer, s, store=method.store) for way, s in
                                      [("method_hidden", replace(settings, mem_hide_start=1)),
                                       ("method_no_sink", replace(settings, mem_sink=False))]})
    start = list(tokenizer.bos)
    top1 = {(key, way): [] for key in ("question", "paraphrase") for way in WAYS}
    for i, fact in enumerate(facts):
        for key in ("question", "paraphrase"):
            target, ids = answer_ids(tokenizer, fact[key], fact["answer"]), tokenizer.prompt(fact[key])
            first = lambda prompt, memory=None: answer_score(model, prompt, target, memory)["rank"] == 0
            top1[key, "context"].append(first(tokenizer.prompt(fact["memory"] + fact[key])))
            top1[key, "context_two_starts"].append(first(tokenizer.prompt(fact["memory"]) + start
                                                         + tokenizer.encode(fact[key])))
            for way, memory in memories.items():
                chosen = with_chunks(model, torch.tensor([ids]), memory)
                top1[key, way].append(first(ids, chosen))
            top1[key, "right_text"].append(int(chosen.choice.chosen[0, 0]) == i)
    print(f"{model_name}, fact benchmark {split}, {len(facts)} facts, every fact read: teacher-forced top-1")
    print("| prompt | " + " | ".join(WAYS) + " |\n| --- |" + " ---: |" * len(WAYS))
    for key in ("question", "paraphrase"):
        print(f"| {key} | " + " | ".join(f"{sum(top1[key, w]) / len(facts):.3f}" for w in WAYS) + " |")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("smollm2", "gemma3"):
        sys.exit("usage: python dev/prompt_start.py smollm2|gemma3")
    main(sys.argv[1])

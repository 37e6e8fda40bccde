"""
How a second round of chunk retrieval should choose (docs/METHOD.md step 3b), on the two-hop set's dev split: given
each question's first fact (read), where does its second fact rank among the store's other 59 texts, scored

    chooser_all       by the model's chooser (steps 1-2) run on first fact + question (every position)
    chooser_question  the same, the question's positions only (they have read the fact)
    chooser_fact      the same run on the first fact alone
    bridge            by the check's share of the bridge (the fact's tokens the question lacks), rarity over prose
    bridge_store      the same, rarity among the store's own texts (memory.next_hop: what chunk_hops uses)

Prints, per way, the share of questions whose second fact ranks first and the median rank.

    python dev/second_hop.py smollm2      # or gemma3
"""
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mtm.entry import open_memory  # noqa: E402
from mtm.loading import load_model  # noqa: E402
from mtm.method.chunks import chunk_score  # noqa: E402
from mtm.method.relevance import rare_overlap, store_rarity, token_rarity  # noqa: E402
from mtm.method.settings import MemorySettings  # noqa: E402
from mtm.tasks.twohop import load_twohop  # noqa: E402
from relevance import recall_setting  # noqa: E402


def main(model_name, split="dev"):
    model, tokenizer = load_model(model_name)
    settings = MemorySettings.of(recall_setting(model_name))
    items = load_twohop(split)
    texts = [t for item in items for t in (item["first"], item["second"])]  # text 2i: item i's first fact
    # the recall setting's store (float32, as build_store's default kept it), read after the setting's bookkeeping token
    store = open_memory(model, tokenizer, settings, texts=texts, kv_dtype="float32").store
    _, starts, lengths = store.chunks(settings.chunk_by, settings.chunk_size)
    ids, skip, every = store.token_ids, settings.chunk_skip, torch.arange(len(starts))[None]
    by_store = store_rarity(ids, starts, lengths)
    prose_rarity = token_rarity(tokenizer, model.config.vocab_size)  # tokens, as the bridge is (never n-grams)
    ranks = {way: [] for way in ("chooser_all", "chooser_question", "chooser_fact", "bridge", "bridge_store")}
    for i, item in enumerate(items):
        row = torch.tensor(tokenizer.prompt(item["question"]))
        fact = ids[starts[2 * i]:starts[2 * i] + lengths[2 * i]]
        bridge = fact[~torch.isin(fact, row[skip:])][None]
        longer = torch.cat([row[:skip], fact, row[skip:]])[None]
        after_fact = replace(settings, chunk_skip=skip + len(fact))
        scores = dict(chooser_all=chunk_score(model, longer, settings, store),
                      chooser_question=chunk_score(model, longer, after_fact, store),
                      chooser_fact=chunk_score(model, torch.cat([row[:skip], fact])[None], settings, store),
                      bridge=rare_overlap(bridge, every, ids, starts, lengths, prose_rarity,
                                          settings.chunk_rarity_power),
                      bridge_store=rare_overlap(bridge, every, ids, starts, lengths, by_store,
                                                settings.chunk_rarity_power))
        for way, score in scores.items():
            score = score[0].clone()
            score[2 * i] = float("-inf")  # the first fact is already read
            ranks[way].append(int((score > score[2 * i + 1]).sum()))
    print(f"{model_name}, two-hop {split}, {len(items)} questions: the second fact's rank among the other texts")
    print("| way | ranked first | median rank |\n| --- | ---: | ---: |")
    for way, r in ranks.items():
        print(f"| {way} | {sum(x == 0 for x in r) / len(r):.3f} | {sorted(r)[len(r) // 2]} |")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Chunk retrieval's chooser and its relevance decision against the loop references (tests/reference_chunks.py):
the choice itself, the hub term, the relevance check counted on tokens or n-grams, the second hop."""
import math
from dataclasses import replace

import pytest
import torch

from memory import Memory
from mtm.method.settings import MemorySettingsError
from mtm.method.relevance import char_ngrams, rare_overlap
from mtm.method.chunks import choose_chunks
from mtm.storage.reading import append_text, build_store
from mtm.method.chunks import hub_prompts
from mtm.method.relevance import ngram_rarity, token_rarity
from reference_chunks import (reference_choose_chunks, reference_next_hop, reference_ngram_overlap,
                              reference_rare_overlap)
from test_retrieval import TEXTS, attention_settings, ferry_choice

HUB_TEXTS = TEXTS + [" ".join(TEXTS * 4)]  # a long text: every short one's tokens, the hub a raw score may favour
HUB_PROMPTS = ["\nThe river", "\nYeast and sugar", "\nA blue ferry", "\nPurring cats", "\nNoon"]
NGRAM_PROSE = ["The cat sat on the mat.", "A dog ran past the old mill.", "Cats and dogs: the_one, the other.",
               "Mills grind corn; millers sell it."]
HOP_TEXTS = ["Ulla is in Quen.", "Quen ferry: Mink.", "Bosi is in Fand.", "Fand ferry: Dirs.", "Mist on a river."]


@pytest.mark.parametrize("heads,skip", [(None, 1), ([1, 4, 5], 1), (None, 0), ([1, 4, 5], 6), (None, 40)])
def test_choose_chunks_matches_reference(llama, heads, skip):
    model, tok = llama
    settings = attention_settings(4, chunk_select=2, chunk_layers=[1, 3], chunk_heads=heads, chunk_skip=skip)
    store = build_store(model, tok, TEXTS, settings.store_layers, progress=False)
    prompts = [tok.encode("\nWhen does the ferry leave?"), tok.encode("\nWhat do the cats do? Purr.")]
    memory = choose_chunks(model, torch.tensor(prompts), Memory(store, settings))
    for b, p in enumerate(prompts):
        capture = {layer: None for layer in settings.chunk_layers}
        with torch.no_grad():
            model(torch.tensor([p]), capture=capture)
        queries = {layer: capture[layer][0][0] for layer in capture}
        ref = reference_choose_chunks(queries, store, settings.chunk_layers, store.text_ids.tolist(), 2, heads, skip)
        assert memory.chosen[b].tolist() == ref


def queries_of(model, ids, layers):
    capture = {layer: None for layer in layers}
    with torch.no_grad():
        model(torch.tensor([ids]), capture=capture)
    return {layer: capture[layer][0][0] for layer in capture}


@pytest.mark.parametrize("hub_k,heads", [(1, None), (2, [1, 4, 5]), (5, None)])
def test_hub_term_matches_reference(llama, hub_k, heads):
    """chunk_hub_k: every chunk's score minus the mean of its hub_k best scores over the reference prompts (the loop
    reference), on a store with one long text; the whole order of the chunks, and again after an append."""
    model, tok = llama
    settings = attention_settings(4, chunk_select=len(HUB_TEXTS), chunk_layers=[1, 3], chunk_heads=heads,
                                  chunk_hub_k=hub_k, chunk_hub_prompts=len(HUB_PROMPTS))
    hub = hub_prompts(settings, tok, texts=[p.strip() for p in HUB_PROMPTS])
    assert sorted(hub.prompts) == sorted(tok.prompt(p) for p in HUB_PROMPTS)  # drawn: all of them, in some order
    store = build_store(model, tok, HUB_TEXTS[:3], settings.store_layers, progress=False)
    prompts = [tok.encode("\nWhen does the ferry leave?"), tok.encode("\nWhat do the cats do? Purr.")]
    for texts in (HUB_TEXTS[:3], HUB_TEXTS):
        if len(texts) > 3:
            append_text(store, model, tok, texts[3:], progress=False)
        C = len(texts)
        memory = choose_chunks(model, torch.tensor(prompts), Memory(store, replace(settings, chunk_select=C),
                                                                  hub=hub))
        hub_queries = [queries_of(model, p, settings.chunk_layers) for p in hub.prompts]
        raw = []
        for b, p in enumerate(prompts):
            queries = queries_of(model, p, settings.chunk_layers)
            args = store, settings.chunk_layers, store.text_ids.tolist(), C, heads, 1
            assert memory.chosen[b].tolist() == reference_choose_chunks(queries, *args, hub_queries, hub_k)
            raw.append(reference_choose_chunks(queries, *args))
        if C == len(HUB_TEXTS):
            assert raw != memory.chosen.tolist()  # the term changes the order here: the test could tell it missing


def test_hub_term_needs_its_prompts(llama):
    model, tok = llama
    settings = attention_settings(4, chunk_select=1, chunk_layers=[1], chunk_hub_k=2, chunk_hub_prompts=3)
    store = build_store(model, tok, TEXTS, settings.store_layers, progress=False)
    with pytest.raises(MemorySettingsError, match="hub=chunks.hub_prompts"):
        choose_chunks(model, torch.tensor([tok.encode("\nCats")]), Memory(store, settings))
    with pytest.raises(MemorySettingsError, match="chunk_hub_k <= chunk_hub_prompts"):
        replace(settings, chunk_hub_k=4).check()
    with pytest.raises(MemorySettingsError, match="needs chunk_select > 0"):
        replace(settings, chunk_select=0, chunk_min_overlap=None).check()


def test_rare_overlap_matches_loop_reference():
    g = torch.Generator().manual_seed(3)
    rarity = torch.rand(50, generator=g) * 5
    token_ids = torch.randint(0, 50, (40,), generator=g)
    starts, lengths = [0, 7, 19, 33], [7, 12, 14, 7]
    prompts = torch.randint(0, 50, (3, 9), generator=g)
    chunks = torch.tensor([[2, 0], [1, 3], [3, 2]])
    for power in (1.0, 3.0):
        ours = rare_overlap(prompts, chunks, token_ids, starts, lengths, rarity, power)
        for r in range(3):
            for j, c in enumerate(chunks[r].tolist()):
                chunk = token_ids[starts[c]:starts[c] + lengths[c]].tolist()
                expected = reference_rare_overlap(prompts[r].tolist(), chunk, rarity, power)
                assert ours[r, j].item() == pytest.approx(expected, abs=1e-6)
    cubed = rare_overlap(prompts, chunks, token_ids, starts, lengths, rarity, 3.0)
    assert not torch.allclose(cubed, rare_overlap(prompts, chunks, token_ids, starts, lengths, rarity))


@pytest.mark.parametrize("n,power", [(4, 3.0), (3, 1.0), (6, 2.0)])
def test_ngram_overlap_matches_loop_reference(llama, n, power):
    """chunk_overlap_by='char_ngrams': rare_overlap with relevance.ngram_rarity against the loop reference, on prompts
    whose name starts a line (tokens cut it otherwise than after a space) and words shorter than n."""
    _, tok = llama
    rarity = ngram_rarity(tok, n, NGRAM_PROSE)
    texts = ["The miller Tamsin Orrowcliffe keeps a cat named Quillory.", "A dog named Ambrel ran past the mill.",
             "Orrowcliffe"]
    prompts = ["\nTamsin Orrowcliffe, the miller, calls her cat", "\nThe dog that ran past the mill is named",
               "\nWho is Orrowcliffe's cat?"]
    encoded = [tok.encode(t) for t in texts]
    token_ids = torch.tensor([t for ids in encoded for t in ids])
    lengths = [len(ids) for ids in encoded]
    starts = [sum(lengths[:i]) for i in range(len(texts))]
    width = max(len(tok.encode(p)) for p in prompts)
    rows = torch.tensor([tok.encode(p) + tok.encode(" ") * (width - len(tok.encode(p))) for p in prompts])
    chunks = torch.tensor([[0, 1, 2]] * 3)
    ours = rare_overlap(rows, chunks, token_ids, starts, lengths, rarity, power)
    for r, p in enumerate(prompts):
        for c, text in enumerate(texts):
            expected = reference_ngram_overlap(p, text, NGRAM_PROSE, n, power)
            assert ours[r, c].item() == pytest.approx(expected, abs=1e-6), (p, text)
    assert ours[0, 0] > ours[0, 1] and ours[1, 1] > ours[1, 0]  # each prompt holds most of its own text's n-grams


def test_ngram_check_is_blind_to_how_a_name_is_tokenized(gpt2):
    """GPT-2's tokens cut a name at a line's start otherwise than after a space: the token check misses it, the
    n-gram check does not."""
    model, tok = gpt2
    prompt, chunk = tok.encode("\nQuillory the cat")[1:], tok.encode("The cat Quillory.")
    assert tok.encode("\nQuillory")[1:] != tok.encode(" Quillory")
    tokens = token_rarity(tok, model.config.vocab_size, NGRAM_PROSE)
    grams = ngram_rarity(tok, 4, NGRAM_PROSE)
    share = lambda rarity: rare_overlap(torch.tensor([prompt]), torch.zeros(1, 1, dtype=torch.long),
                                        torch.tensor(chunk), [0], [len(chunk)], rarity, 3.0).item()
    assert share(tokens) < 0.9 and share(grams) == pytest.approx(1.0)
    assert grams.units(tok.encode("\nQuillory")) == grams.units(tok.encode(" Quillory")) == char_ngrams("quillory", 4)


def test_token_rarity_is_inverse_document_frequency(llama):
    _, tok = llama
    texts = ["the cat sat", "the dog ran", "the cat ran"]
    rarity = token_rarity(tok, 60000, texts)
    encoded = [tok.encode(t) for t in texts]
    seen = sorted({t for ids in encoded for t in ids})
    absent = next(t for t in range(60000) if t not in seen)
    assert len(seen) > 3
    for t in seen + [absent]:  # log((D + 1) / (df + 0.5)), D = 3 texts, df: the texts a token occurs in
        df = sum(t in ids for ids in encoded)
        assert rarity[t].item() == pytest.approx(math.log(4 / (df + 0.5)), rel=1e-6), tok.decode([t])


def test_chunk_min_overlap_reads_a_chunk_only_if_it_holds_the_prompts_rare_tokens(llama):
    model, tok = llama
    settings, store, idx, free = ferry_choice(model, tok, chunk_select=1)
    _, starts, lengths = store.chunks()
    c = int(free.choice.chosen[0, 0])
    rarity = torch.ones(model.config.vocab_size)
    share = reference_rare_overlap(idx[0, 1:].tolist(), store.token_ids[starts[c]:starts[c] + lengths[c]].tolist(),
                                   rarity)
    check = lambda t: choose_chunks(model, idx, Memory(store, replace(settings, chunk_min_overlap=t),
                                                       rarity=rarity))
    assert 0 < share < 1
    assert check(share).entries[2].sum() > 0           # reaches it: read
    assert check(share + 1e-3).entries[2].sum() == 0    # just short of it: nothing read
    with pytest.raises(MemorySettingsError, match="rarity"):
        choose_chunks(model, idx, Memory(store, replace(settings, chunk_min_overlap=0.5)))


def test_chunk_min_overlap_decides_for_each_chosen_chunk(llama):
    """chunk_select = 2: each chosen chunk passes or fails the check on its own share (the loop reference), and
    the layout holds exactly the chunks that pass."""
    model, tok = llama
    settings, store, idx, free = ferry_choice(model, tok, chunk_select=2)
    settings = replace(settings, chunk_rarity_power=2.0)
    _, starts, lengths = store.chunks()
    rarity = torch.rand(model.config.vocab_size, generator=torch.Generator().manual_seed(0)) * 5
    shares = [reference_rare_overlap(idx[0, 1:].tolist(), store.token_ids[starts[c]:starts[c] + lengths[c]].tolist(),
                                     rarity, 2.0) for c in free.choice.chosen[0].tolist()]
    assert shares[0] != shares[1], shares
    for t in sorted(shares) + [max(shares) + 1e-3]:
        m = choose_chunks(model, idx, Memory(store, replace(settings, chunk_min_overlap=t), rarity=rarity))
        expected = [s >= t for s in shares]
        assert m.read[0].tolist() == expected
        read_tokens = sum(lengths[c] for c, ok in zip(free.choice.chosen[0].tolist(), expected) if ok)
        assert int(m.entries[2].sum()) == read_tokens + (1 if any(expected) else 0)  # the chunks and the sink


@pytest.mark.parametrize("threshold", [None, 0.01, 0.3, 0.9])
def test_second_hop_matches_reference(llama, threshold):
    """chunk_hops = 2: the first round as with one hop; the second takes, among the texts not yet chosen, the one
    holding the largest share of the bridge's rarity among the stored texts (the loop reference), read if it
    reaches the threshold; the layout puts the first text first, the second next to the prompt."""
    model, tok = llama
    rarity = torch.rand(model.config.vocab_size, generator=torch.Generator().manual_seed(1)) + 0.1
    settings = attention_settings(0, chunk_select=1, chunk_hops=2, chunk_layers=[1, 3], mem_position="before",
                                  chunk_min_overlap=threshold, chunk_rarity_power=3.0)
    store = build_store(model, tok, HOP_TEXTS, settings.store_layers, progress=False)
    _, starts, lengths = store.chunks()
    text = lambda c: store.token_ids[starts[c]:starts[c] + lengths[c]].tolist()
    prompts = [tok.encode("\nUlla's town's ferry:"), tok.encode("\nBosi's town's ferry:")]
    memory = choose_chunks(model, torch.tensor(prompts), Memory(store, settings, rarity=rarity))
    one_hop = choose_chunks(model, torch.tensor(prompts), Memory(store, replace(settings, chunk_hops=1),
                                                                 rarity=rarity))
    assert memory.chosen.shape == (2, 2)
    reads = []
    for b, p in enumerate(prompts):
        first, first_read = int(one_hop.chosen[b, 0]), bool(one_hop.read[b, 0])
        bridge, scores = reference_next_hop(p, [text(first)] if first_read else [],
                                            [text(c) for c in range(len(HOP_TEXTS))], power=3.0)
        scores[first] = -1.0
        second = int(memory.chosen[b, 0])
        assert memory.chosen[b, 1] == first and second != first
        assert float(memory.scores[b, 0]) == pytest.approx(max(scores), abs=1e-6)
        assert scores[second] == pytest.approx(max(scores), abs=1e-6)
        second_read = first_read and (threshold is None or scores[second] >= threshold)
        assert memory.read[b].tolist() == [second_read, first_read]
        reads.append(second_read)
        index, _, valid = (t[b] for t in memory.entries)
        laid_out = [c for c, ok in ((first, first_read), (second, second_read)) if ok]
        sink = [-2 - j for j in range(store.sink_length)] if laid_out else []  # the bookkeeping token first
        assert index[valid].tolist() == sink + [i for c in laid_out for i in range(starts[c], starts[c] + lengths[c])]
    if threshold in (None, 0.01):  # a second text read, with and without a threshold
        assert all(reads)
    if threshold in (0.3, 0.9):  # and refused
        assert not any(reads)


def test_one_hop_is_the_default_choice(llama):
    model, tok = llama
    settings = attention_settings(0, chunk_select=1, chunk_layers=[1], mem_position="before")
    store = build_store(model, tok, HOP_TEXTS, settings.store_layers, progress=False)
    idx = torch.tensor([tok.encode("\nFand ferry is")])
    one = choose_chunks(model, idx, Memory(store, settings))
    two = choose_chunks(model, idx, Memory(store, replace(settings, chunk_hops=2)))
    assert one.chosen.shape == (1, 1) and two.chosen[0, 1:].tolist() == one.chosen[0].tolist()
    assert two.read[0, 1:].tolist() == one.read[0].tolist() and torch.equal(two.scores[0, 1:], one.scores[0])
    assert two.chosen[0, 0] != two.chosen[0, 1]

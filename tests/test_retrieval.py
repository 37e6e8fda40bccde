"""Attention retrieval and chunk retrieval (memory.py) against the loop reference (tests/reference.py)."""
from dataclasses import replace

import pytest
import torch

from memory import Memory, with_chunks
from mtm.method.settings import MemorySettings, MemorySettingsError
from mtm.method.chunks import Choice, chunk_layout
from mtm.method.retrieval import retrieval_attention
from mtm.storage.disk import load_store, save_store
from mtm.storage.reading import append_text, build_store
from mtm.storage.store import MemoryStore, MemoryStoreError, check_store
from mtm.families.llama import apply_rotary, rotary_at
from mtm.generation import generate
from reference import reference_gpt2_logits, reference_llama_logits, reference_retrieval_attention

TEXTS = ["Cats are wonderful, loving companions. They purr.", "The ferry leaves at noon! It is blue.",
         "Mist lies on the river.", "Bread rises when yeast eats sugar and makes gas."]


def random_store(n_kv_head, n, d, n_query_head, text_ids, seed=0):
    g = torch.Generator().manual_seed(seed)
    keys, values = torch.randn(n_kv_head, n, d, generator=g), torch.randn(n_kv_head, n, d, generator=g)
    meta = dict(n_head=n_kv_head, n_query_head=n_query_head, head_dim=d, layers=[0])
    return MemoryStore(meta, {0: keys}, {0: values}, torch.arange(n), torch.tensor(text_ids))


def attention_settings(knn, **change):
    return MemorySettings([knn], retrieval="attention", search=change.pop("search", "query_ip"), **change).check()


LAYER_CASES = [  # knn, search, threshold, chunks, position
    (3, "query_ip", -1.0, 0, "query"), (5, "query_cos", 0.1, 0, "query"), (100, "query_ip", -1.0, 2, "query"),
    (2, "query_cos", -1.0, 2, "query"), (4, "query_ip", 0.2, 1, "before"), (100, "query_ip", -1.0, 3, "before")]


@pytest.mark.parametrize("knn,search,threshold,chunks,position", LAYER_CASES)
def test_layer_matches_loop_reference(knn, search, threshold, chunks, position):
    B, H, H_kv, T, d = 2, 4, 2, 7, 8
    g = torch.Generator().manual_seed(1)
    q_raw, k_raw = torch.randn(B, H, T, d, generator=g), torch.randn(B, H_kv, T, d, generator=g)
    v = torch.randn(B, H_kv, T, d, generator=g)
    start = 3  # the rows 3.. are new (the cache holds positions 0-2), as in a generation step
    positions = torch.arange(T)[None].expand(B, T)
    rotate = lambda x, pos: apply_rotary(x, *rotary_at(10000.0, d, pos))
    q, k = rotate(q_raw, positions), rotate(k_raw, positions)
    store = random_store(H_kv, 12, d, H, [0] * 3 + [1] * 4 + [2] * 2 + [3] * 3)
    settings = attention_settings(knn, search=search, mem_threshold=threshold, chunk_select=chunks,
                                  chunk_layers=[0] if chunks else [], mem_position=position)
    memory = Memory(store, settings)
    entries = positions_by_row = None
    if chunks:
        _, starts, lengths = store.chunks()
        chosen = torch.tensor([[1, 3, 0][:chunks], [2, 0, 1][:chunks]])
        memory.choice = Choice(chosen, None, None, chunk_layout(chosen, starts, lengths, "cpu"))
        index, pos, valid = memory.choice.entries
        entries = [index[b][valid[b]].tolist() for b in range(B)]
        positions_by_row = [pos[b][valid[b]].tolist() for b in range(B)]
    y = retrieval_attention(q[:, :, start:], k, v, memory, 0, q_raw=q_raw[:, :, start:], rotate=rotate)
    rep = lambda x: x.repeat_interleave(H // H_kv, dim=1)
    ref = reference_retrieval_attention(q, rep(k), rep(v), store.keys[0], store.values[0], knn, entries, q_raw=q_raw,
                                        metric=search, threshold=threshold, positions=positions_by_row,
                                        theta=10000.0 if position == "before" else None)[:, :, start:]
    torch.testing.assert_close(y.double(), ref, atol=1e-5, rtol=1e-5)
    plain = torch.nn.functional.scaled_dot_product_attention(q, rep(k), rep(v), is_causal=True)[:, :, start:]
    assert (y - plain).abs().max() > 1e-2  # the memory entries took part


def test_chunk_layout_puts_the_best_chunk_next_to_the_context():
    index, position, valid = chunk_layout(torch.tensor([[2, 0], [1, 1]]), [0, 3, 5], [3, 2, 4], "cpu")
    assert index[0].tolist() == [0, 1, 2, 5, 6, 7, 8] and position[0].tolist() == [-7, -6, -5, -4, -3, -2, -1]
    assert index[1].tolist() == [3, 4, 3, 4, -1, -1, -1] and valid[1].tolist() == [True] * 4 + [False] * 3
    assert position[1, :4].tolist() == [-4, -3, -2, -1]


def test_store_chunks_texts_sentences_blocks(llama):
    model, tok = llama
    store = build_store(model, tok, TEXTS, [1], progress=False)
    lengths = [len(t) for t in TEXTS]  # the byte tokenizer: one token per character
    assert store.chunks("text")[2] == lengths
    assert store.text_ids.tolist() == sum(([i] * n for i, n in enumerate(lengths)), [])
    # sentences end after '.', '!' or '?': 2 + 2 + 1 + 1
    assert store.chunks("sentence")[2] == [len("Cats are wonderful, loving companions."), len(" They purr."),
                                           len("The ferry leaves at noon!"), len(" It is blue."), lengths[2], lengths[3]]
    assert store.chunks("block", 16)[2] == [16, 16, 16, 1, 16, 16, 5, 16, 7, 16, 16, 16]  # 49, 37, 23, 48 tokens
    # each text was read on its own: its keys are those of the text stored alone
    alone = build_store(model, tok, TEXTS[1], [1], progress=False)
    torch.testing.assert_close(store.keys[1][:, lengths[0]:sum(lengths[:2])], alone.keys[1], atol=1e-5, rtol=1e-5)


def test_store_text_numbers_survive_save_append_and_load(llama, tmp_path):
    model, tok = llama
    store = build_store(model, tok, TEXTS[:2], [1], progress=False)
    save_store(store, tmp_path / "s")
    loaded = load_store(tmp_path / "s")
    assert torch.equal(loaded.text_ids, store.text_ids) and torch.equal(loaded.sentence_ids, store.sentence_ids)
    append_text(loaded, model, tok, TEXTS[2:], progress=False)
    assert loaded.chunks("text")[2] == [len(t) for t in TEXTS] and loaded.meta["texts"] == TEXTS
    assert int(loaded.sentence_ids.max()) == 5


@pytest.mark.parametrize("position,knn,sink", [("before", 1000, False), ("query", 1000, False), ("before", 5, False),
                                               ("before", 1000, True), ("before", 5, True)])
def test_llama_chunk_retrieval_matches_reference(llama, hf_llama, position, knn, sink):
    model, tok = llama
    settings = attention_settings(0, chunk_select=2, chunk_layers=[2], mem_position=position, mem_sink=sink)
    # not layer 0 with top-k: there a key depends on its token alone, repeated letters tie, and a tie may go either way
    settings.knn_num = [knn if knn > 100 else 0, knn, 0, knn]
    store = build_store(model, tok, TEXTS, settings.store_layers, progress=False)
    idx = torch.tensor([tok.encode("\nThe ferry is"), tok.encode("\nCats do purr")])
    memory = with_chunks(model, idx, Memory(store, settings))
    index, pos, valid = memory.choice.entries
    chosen = ([index[b][valid[b]].tolist() for b in range(2)], [pos[b][valid[b]].tolist() for b in range(2)])
    assert all(row[:1] == ([-2] if sink else row[:1]) and -2 not in row[1:] for row in chosen[0])  # "\n": one token
    with torch.no_grad():
        ours, plain = model(idx, memory=memory), model(idx)
    ref = reference_llama_logits(hf_llama.state_dict(), hf_llama.config, idx, dict(enumerate(settings.knn_num)),
                                 store, settings, chosen)
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)
    assert (ours - plain).abs().max() > 1e-3


def test_llama_knn_attention_over_the_whole_store_matches_reference(llama, hf_llama):
    model, tok = llama
    settings = MemorySettings([3, 0, 4, 2], retrieval="attention", search="query_cos", mem_threshold=0.1).check()
    store = build_store(model, tok, TEXTS, settings.store_layers, progress=False)
    idx = torch.tensor([tok.encode("\nThe ferry is"), tok.encode("\nCats do purr")])
    with torch.no_grad():
        ours = model(idx, memory=Memory(store, settings))
    ref = reference_llama_logits(hf_llama.state_dict(), hf_llama.config, idx, dict(enumerate(settings.knn_num)),
                                 store, settings)
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)


def test_gpt2_chunk_retrieval_matches_reference(gpt2, hf_gpt2):
    model, tok = gpt2
    settings = attention_settings(0, chunk_select=1, chunk_layers=[1])
    settings.knn_num = [0, 6, 1000, 0]
    store = build_store(model, tok, TEXTS, settings.store_layers, progress=False)
    idx = torch.tensor([tok.encode("\nThe ferry is near"), tok.encode("\nCats purr")])  # 5 GPT-2 tokens each
    memory = with_chunks(model, idx, Memory(store, settings))
    index, _, valid = memory.choice.entries
    with torch.no_grad():
        ours = model(idx, memory=memory)
    ref = reference_gpt2_logits(hf_gpt2.state_dict(), 4, idx, dict(enumerate(settings.knn_num)), store, settings,
                                ([index[b][valid[b]].tolist() for b in range(2)], None))
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)


def test_generation_with_cache_equals_recomputing(llama):
    """Attention retrieval never changes a past row's output, so the KV cache is exact; the chunks are chosen
    once, from the prompt."""
    model, tok = llama
    settings = attention_settings(1000, chunk_select=2, chunk_layers=[2], mem_position="before")
    settings.knn_num = [1000] * 4
    store = build_store(model, tok, TEXTS, settings.store_layers, progress=False)
    idx = torch.tensor([tok.encode("\nThe ferry is")] * 2)
    for mode in ("exact", "cached"):
        cached = generate(model, idx, 8, temperature=0, memory=Memory(store, settings, mode=mode))
        full = generate(model, idx, 8, temperature=0, memory=Memory(store, settings, mode=mode), use_cache=False)
        assert torch.equal(cached, full)
    assert not torch.equal(cached, generate(model, idx, 8, temperature=0))


@pytest.mark.parametrize("change,message", [
    (dict(retrieval="knn"), "retrieval = .knn.: must be"), (dict(search="l1"), "search = .l1.: must be"),
    (dict(retrieval="attention"), "search to 'query_ip'"), (dict(chunk_select=2), "retrieval='attention' only"),
    (dict(retrieval="attention", search="query_ip", chunk_select=2), "needs chunk_layers"),
    (dict(retrieval="attention", search="query_ip", mem_position="before"), "needs chunk_select"),
    (dict(chunk_by="page"), "chunk_by = .page.: must be"),
    (dict(retrieval="attention", search="query_ip", chunk_min_overlap=0.5), "needs chunk_select")])
def test_settings_out_of_range_get_one_line(change, message):
    with pytest.raises(MemorySettingsError, match=message):
        MemorySettings([0, 3], **change).check()


def test_paper_types_are_untouched_by_the_new_settings():
    s = MemorySettings([0, 5], 5.0, 0.9, 0.01, False, 0.33).check()
    assert s.retrieval == "blend" and s.search == "key_l2" and s.method_type == "Type 3" and s.store_layers == [1]


def ferry_choice(model, tok, chunk_select):
    """Chunk retrieval over TEXTS for one prompt, every layer reading the chosen chunks, no gate: the settings, the
    store, the prompt and the ungated choice."""
    settings = attention_settings(0, chunk_select=chunk_select, chunk_layers=[2], mem_position="before")
    settings.knn_num = [1000] * 4
    store = build_store(model, tok, TEXTS, settings.store_layers, progress=False)
    idx = torch.tensor([tok.encode("\nThe ferry is")])
    return settings, store, idx, with_chunks(model, idx, Memory(store, settings))


def test_chunk_min_score_reads_only_chunks_that_reach_it(llama):
    model, tok = llama
    settings, store, idx, free = ferry_choice(model, tok, chunk_select=2)
    low, high = free.choice.scores[0].tolist()[::-1]  # the second chunk's score, the first's
    gated = lambda t: with_chunks(model, idx, Memory(store, MemorySettings(**dict(vars(settings), chunk_min_score=t))))
    with torch.no_grad():
        plain, ungated = model(idx), model(idx, memory=free)
        torch.testing.assert_close(model(idx, memory=gated(high + 1)), plain)  # nothing reaches it: no memory
        torch.testing.assert_close(model(idx, memory=gated(low - 1)), ungated)  # both reach it: as without a gate
        between = gated((low + high) / 2)  # only the best chunk is read
    assert between.choice.entries[2].sum() == store.chunks()[2][int(free.choice.chosen[0, 0])] + 1  # its tokens and the sink


def test_sink_and_chosen_chunk_read_as_the_context_would(llama):
    """With the bookkeeping token laid out before the chosen text, every layer reading all of it, the memory is the
    context: the prompt's logits equal those of bookkeeping token + text + prompt read in one sequence."""
    model, tok = llama
    settings = attention_settings(0, chunk_select=1, chunk_layers=[2], mem_position="before", mem_sink=True)
    settings.knn_num = [1000] * 4
    store = build_store(model, tok, [TEXTS[1]], settings.store_layers, progress=False)  # one text: always chosen
    prompt = tok.encode("\nThe ferry is")
    with torch.no_grad():
        ours = model(torch.tensor([prompt]), memory=Memory(store, settings))
        context = model(torch.tensor([tok.encode("\n" + TEXTS[1]) + prompt]))[:, -len(prompt):]
        no_sink = model(torch.tensor([prompt]), memory=Memory(store, replace(settings, mem_sink=False)))
    torch.testing.assert_close(ours, context, atol=1e-4, rtol=1e-4)
    assert (no_sink - context).abs().max() > 1e-2  # without the sink it is not the context


def test_hidden_prompt_start_reads_on_from_the_memory_as_from_a_context(llama):
    """mem_hide_start = 1: the prompt's own first token (here "\n", the same as the bookkeeping token) is hidden
    behind the memory's: the prompt's other logits equal those of bookkeeping token + text + the prompt without its
    first token, read in one sequence, and, with generation's cache, greedy tokens equal that sequence's."""
    model, tok = llama
    settings = attention_settings(0, chunk_select=1, chunk_layers=[2], mem_position="before", mem_hide_start=1)
    settings.knn_num = [1000] * 4
    store = build_store(model, tok, [TEXTS[1]], settings.store_layers, progress=False)  # one text: always chosen
    prompt = tok.encode("\nThe ferry is")
    context = tok.encode("\n" + TEXTS[1]) + prompt[1:]
    with torch.no_grad():
        ours = model(torch.tensor([prompt]), memory=Memory(store, settings))[:, 1:]
        read = model(torch.tensor([context]))[:, -len(prompt) + 1:]
        shown = model(torch.tensor([prompt]), memory=Memory(store, replace(settings, mem_hide_start=0)))[:, 1:]
    torch.testing.assert_close(ours, read, atol=1e-4, rtol=1e-4)
    assert (shown - read).abs().max() > 1e-2  # with the prompt's start shown it is another sequence
    ours = generate(model, torch.tensor([prompt]), 6, temperature=0, memory=Memory(store, settings))[0, len(prompt):]
    assert ours.tolist() == generate(model, torch.tensor([context]), 6, temperature=0)[0, len(context):].tolist()


def test_hidden_prompt_start_needs_memory_laid_out_before_after_the_sink():
    for change in (dict(mem_position="query"), dict(mem_position="before", mem_sink=False)):
        with pytest.raises(MemorySettingsError, match="mem_hide_start"):
            attention_settings(0, chunk_select=1, chunk_layers=[2], mem_hide_start=1, **change).check()


def test_hidden_prompt_start_leaves_no_row_empty(llama):
    """A store without a bookkeeping token (no sink to read) and a threshold no memory entry reaches: the hidden
    position still reads itself, so nothing is NaN, and the positions after it read as the prompt without it."""
    model, tok = llama
    settings = attention_settings(0, chunk_select=1, chunk_layers=[2], mem_position="before", mem_hide_start=1,
                                  mem_threshold=0.999)
    settings.knn_num = [1000] * 4
    store = build_store(model, tok, [TEXTS[1]], settings.store_layers, bookkeeping_token="", progress=False)
    assert store.sink_length == 0
    prompt = tok.encode("\nThe ferry is")
    with torch.no_grad():
        ours = model(torch.tensor([prompt]), memory=Memory(store, settings))
        alone = model(torch.tensor([prompt[1:]]))
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours[:, 1:], alone, atol=1e-4, rtol=1e-4)  # no entry passes: the prompt without "\n"


def test_stores_keep_the_sink_through_save_and_load(llama, tmp_path):
    model, tok = llama
    store = build_store(model, tok, TEXTS[:2], [1, 3], progress=False)
    assert store.sink_length == 1 and store.sink_keys[3].shape == (2, 1, 8)
    alone = build_store(model, tok, "\n", [3], bookkeeping_token="", progress=False)  # the token read alone
    torch.testing.assert_close(store.sink_keys[3], alone.keys[3])
    save_store(store, tmp_path / "s")
    loaded = load_store(tmp_path / "s")
    assert torch.equal(loaded.sink_keys[3], store.sink_keys[3]) and torch.equal(loaded.sink_values[1], store.sink_values[1])
    assert build_store(model, tok, TEXTS[:1], [1], bookkeeping_token="", progress=False).sink_length == 0
    loaded.sink_keys, loaded.sink_values = {}, {}  # as a store saved before stores kept the sink
    settings = attention_settings(5, chunk_select=1, chunk_layers=[3], mem_position="before")
    settings.knn_num = [0, 5, 0, 0]
    with pytest.raises(MemoryStoreError, match="saved before stores kept it"):
        check_store(loaded, model, settings)
    check_store(loaded, model, replace(settings, mem_sink=False))  # without the sink it still reads



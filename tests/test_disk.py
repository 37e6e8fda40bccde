"""A store that grows and forgets: segments on disk, appends that cost the new text, checks per block, forgetting
and compaction; each against an independent reference (the store built in RAM, brute force, the no-memory run)."""
import json
import os

import numpy as np
import pytest
import torch

from mtm.storage import disk
from mtm.storage.disk import append_on_disk, build_on_disk, compact, forget, load_store
from mtm.generation import generate
from memory import Memory, with_chunks
from mtm.method.settings import MemorySettings
from mtm.storage.reading import build_store
from mtm.storage.store import MemoryStore, MemoryStoreError

TEXTS = ["Cats are wonderful, loving companions.", "Dogs are loyal friends who love long walks in the park.",
         "The river Zembla flows north through the hills of Ord.", "Tea is grown on the slopes of the valley."]
CHUNKS = MemorySettings([100] * 4, retrieval="attention", search="query_ip", chunk_select=1, chunk_layers=[2],
                        mem_position="before").check()


def same_store(a, b):
    """The same tokens, texts and keys/values (to float32 rounding: windows read in other batches are padded to
    other widths)."""
    for layer in b.layers:
        for what in ("keys", "values"):
            torch.testing.assert_close(a.layer(layer, what), b.layer(layer, what), rtol=0, atol=1e-5)
    for name in ("token_ids", "text_ids", "sentence_ids"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.meta["texts"] == b.meta["texts"]


def test_a_store_built_in_segments_equals_the_one_built_in_ram(gpt2, tmp_path):
    model, tok = gpt2
    ram = build_store(model, tok, TEXTS, [1, 3], progress=False)
    on_disk = build_on_disk(tmp_path / "s", model, tok, TEXTS, [1, 3], progress=False, group_tokens=12)
    assert len(on_disk.segments) > 2  # one part per ~12 tokens of whole texts
    same_store(on_disk, ram)
    assert torch.equal(on_disk.sink_keys[3], ram.sink_keys[3])
    index = torch.tensor([[0, 5, len(ram) - 1], [9, 3, 2]])
    for got, want in zip(on_disk.gather(3, index), (on_disk.layer(3, "keys"), on_disk.layer(3, "values"))):
        assert torch.equal(got, want[:, index])  # against indexing the whole layer
    assert torch.equal(on_disk.head_keys(1, 2), on_disk.layer(1, "keys")[2])


def test_kv_dtype_keeps_the_keys_and_values_rounded(gpt2, tmp_path):
    model, tok = gpt2
    full = build_store(model, tok, TEXTS[:2], [2], progress=False)
    half = build_on_disk(tmp_path / "s", model, tok, TEXTS[:2], [2], kv_dtype="float16", progress=False)
    assert half.layer(2).dtype == torch.float16 and half.meta["kv_dtype"] == "float16"
    torch.testing.assert_close(half.layer(2, "values"), full.layer(2, "values").half(), rtol=1e-3, atol=1e-5)
    bf = build_on_disk(tmp_path / "b", model, tok, TEXTS[:2], [2], kv_dtype="bfloat16", progress=False)
    assert bf.layer(2).dtype == torch.bfloat16 and load_store(tmp_path / "b").layer(2).dtype == torch.bfloat16
    torch.testing.assert_close(bf.layer(2).float(), full.layer(2), rtol=1e-2, atol=1e-2)


def test_append_writes_new_segments_only(gpt2, tmp_path):
    model, tok = gpt2
    build_on_disk(tmp_path / "s", model, tok, TEXTS[:2], [2], progress=False)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "s").glob("seg-*")}
    grown = append_on_disk(tmp_path / "s", model, tok, TEXTS[2:], progress=False)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "s").glob("seg-*")}
    assert all(after[name] == old for name, old in before.items())  # the old segments untouched
    assert len(after) == len(before) + 2  # one new segment: its tensors and its texts
    same_store(grown, build_store(model, tok, TEXTS, [2], progress=False))


def test_a_crash_during_an_append_leaves_the_previous_store(gpt2, tmp_path, monkeypatch):
    model, tok = gpt2
    build_on_disk(tmp_path / "s", model, tok, TEXTS[:2], [2], progress=False)
    real_replace = os.replace

    def crash_on_manifest(src, dst):
        if str(dst).endswith("manifest.json"):
            raise KeyboardInterrupt()  # the process dies between writing the segment and committing it
        return real_replace(src, dst)
    monkeypatch.setattr(disk.os, "replace", crash_on_manifest)
    with pytest.raises(KeyboardInterrupt):
        append_on_disk(tmp_path / "s", model, tok, TEXTS[2:], progress=False)
    monkeypatch.undo()
    same_store(load_store(tmp_path / "s"), build_store(model, tok, TEXTS[:2], [2], progress=False))
    append_on_disk(tmp_path / "s", model, tok, TEXTS[2:], progress=False)  # the next append works, and
    assert len(list((tmp_path / "s").glob("seg-*"))) == 4  # the orphaned segment is gone


def test_a_damaged_block_is_refused_when_first_read(gpt2, tmp_path, monkeypatch):
    model, tok = gpt2
    monkeypatch.setattr(disk, "BLOCK", 4096)  # many blocks in one small segment
    monkeypatch.setattr(disk, "EAGER_BYTES", 0)  # checked lazily, as a large store is
    build_on_disk(tmp_path / "s", model, tok, TEXTS * 30, [1, 2, 3], progress=False, group_tokens=10 ** 6)
    seg = next((tmp_path / "s").glob("seg-*.safetensors"))
    header = json.loads(seg.read_bytes()[8:8 + int.from_bytes(seg.read_bytes()[:8], "little")])
    _, hi = header["layer3.values"]["data_offsets"]
    start = 8 + int.from_bytes(seg.read_bytes()[:8], "little")
    data = bytearray(seg.read_bytes())
    data[start + hi - 10] ^= 0xFF  # the last stored token's value, last head
    seg.write_bytes(bytes(data))
    store = load_store(tmp_path / "s")  # opening reads what every prompt needs, not the damaged block
    store.gather(3, torch.tensor([0, 1, 2]))  # blocks far from the damage read fine
    with pytest.raises(MemoryStoreError) as e:
        store.gather(3, torch.tensor([len(store) - 1]))
    assert "\n" not in str(e.value) and "does not match its checksum" in str(e.value)


def test_a_truncated_segment_is_refused_when_opened(gpt2, tmp_path):
    model, tok = gpt2
    build_on_disk(tmp_path / "s", model, tok, TEXTS, [2], progress=False)
    seg = next((tmp_path / "s").glob("seg-*.safetensors"))
    seg.write_bytes(seg.read_bytes()[:-100])
    with pytest.raises(MemoryStoreError) as e:
        load_store(tmp_path / "s")
    assert "\n" not in str(e.value) and "truncated" in str(e.value)


def test_a_store_of_the_old_format_gets_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(dict(format_version=1, tensors_file="tensors-x.safetensors")))
    with pytest.raises(MemoryStoreError) as e:
        load_store(tmp_path)
    assert "\n" not in str(e.value) and "format version 1" in str(e.value) and "build_memory.py" in str(e.value)


# -----------------------------------------------------------------------------
# forgetting

@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_forgotten_tokens_are_never_found(backend, monkeypatch):
    from mtm.storage import store as store_module
    if backend == "faiss":
        monkeypatch.setattr(store_module, "TORCH_SEARCH_MAX", 0)
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(2, 300, 8, generator=g)
    text_ids = torch.arange(300) // 10  # 30 texts of 10 tokens
    store = MemoryStore(dict(n_head=2, head_dim=8), {0: keys}, {0: -keys}, torch.arange(300), text_ids,
                        forgotten={1, 4, 5, 29})
    live = ~torch.isin(text_ids, torch.tensor([1, 4, 5, 29]))
    queries, heads = torch.randn(20, 8, generator=g), torch.randint(0, 2, (20,), generator=g)
    _, _, found, _, idx = store.search(0, heads, queries, 6)
    for i in range(20):
        d = ((keys[heads[i]] - queries[i]) ** 2).sum(-1).masked_fill(~live, float("inf"))
        assert found[i].all() and idx[i].tolist() == torch.argsort(d)[:6].tolist()


def answer(model, prompt, memory):
    return generate(model, prompt, 12, temperature=0, memory=memory)


def test_a_forgotten_fact_is_never_read(gpt2, tmp_path):
    model, tok = gpt2
    build_on_disk(tmp_path / "s", model, tok, TEXTS, list(range(4)), progress=False, group_tokens=12)
    prompts = {i: torch.tensor([tok.encode(t.split(" ")[0] + " is")]) for i, t in enumerate(TEXTS)}
    store = load_store(tmp_path / "s")
    before = {i: answer(model, p, Memory(store, CHUNKS)) for i, p in prompts.items()}
    chosen = {i: int(with_chunks(model, p, Memory(store, CHUNKS)).choice.chosen[0, 0])
              for i, p in prompts.items()}
    victim = chosen[0]
    assert forget(tmp_path / "s", [victim]) == [victim]
    store = load_store(tmp_path / "s")
    assert store.forgotten == {victim} and store.meta["texts"][victim] == TEXTS[victim]  # until compaction
    for i, p in prompts.items():
        now = with_chunks(model, p, Memory(store, CHUNKS))
        assert int(now.choice.chosen[0, 0]) != victim  # never chosen
        if chosen[i] != victim:  # the neighbours: the same answer as before
            assert torch.equal(answer(model, p, Memory(store, CHUNKS)), before[i])
    alone = tmp_path / "alone"
    build_on_disk(alone, model, tok, [TEXTS[victim]], list(range(4)), progress=False)
    forget(alone, TEXTS[victim][:12])  # by a text match
    assert torch.equal(answer(model, prompts[0], Memory(load_store(alone), CHUNKS)), answer(model, prompts[0], None))


def test_compaction_reclaims_forgotten_texts(gpt2, tmp_path):
    model, tok = gpt2
    build_on_disk(tmp_path / "s", model, tok, TEXTS, [2], progress=False, group_tokens=25)
    forget(tmp_path / "s", [1])
    reclaimed = compact(tmp_path / "s")
    store = load_store(tmp_path / "s")
    kept = build_store(model, tok, [TEXTS[0]] + TEXTS[2:], [2], progress=False)
    assert reclaimed > 0 and store.meta["texts"] == [TEXTS[0], None] + TEXTS[2:] and store.forgotten == {1}
    torch.testing.assert_close(store.layer(2), kept.layer(2), rtol=0, atol=1e-5)
    assert torch.equal(store.token_ids, kept.token_ids)
    assert 1 not in store.text_ids.tolist() and store.text_ids.unique().tolist() == [0, 2, 3]  # numbers kept
    assert not any("Dogs" in p.read_text(errors="ignore") for p in (tmp_path / "s").glob("seg-*.json"))


def test_forgetting_what_is_not_there_gets_one_line(gpt2, tmp_path):
    model, tok = gpt2
    build_on_disk(tmp_path / "s", model, tok, TEXTS, [2], progress=False)
    for which, words in (([7], "no text 7"), ("Zorbian", "holds 'Zorbian'")):
        with pytest.raises(MemoryStoreError) as e:
            forget(tmp_path / "s", which)
        assert "\n" not in str(e.value) and words in str(e.value)
    assert np.array_equal(load_store(tmp_path / "s").token_ids, build_store(model, tok, TEXTS, [2],
                                                                            progress=False).token_ids)

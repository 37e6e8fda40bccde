"""Building, saving and loading memory stores; each bad store gives one clear error; k-NN vs brute force."""
import json
import os

import numpy as np
import pytest
import torch

from mtm.storage import store as store_module
from conftest import save_random_gpt2
from memory import Memory
from mtm.method.settings import MemorySettings
from mtm.storage import disk
from mtm.storage.disk import load_store, save_store
from mtm.storage.reading import append_text, build_store
from mtm.storage.store import MemoryStoreError, check_store
from mtm.loading import load_model

CATS = "Cats are wonderful, loving companions. I love the way my cat purrs happily on my lap."
DOGS = "Dogs are loyal friends who love long walks in the park."


def hf_kv(hf_model, ids, layer):
    """Keys and values of one layer from transformers' own cache: an independent view of creation 1/2."""
    with torch.no_grad():
        cache = hf_model(torch.tensor([ids]), use_cache=True).past_key_values
    return cache.layers[layer].keys[0], cache.layers[layer].values[0]  # [H, T, d]


def assert_one_line(err, *words):
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_creation2_stores_the_models_kv_without_the_bookkeeping_token(gpt2, hf_gpt2):
    model, tok = gpt2
    store = build_store(model, tok, CATS, [1, 3], bookkeeping_token="\n", progress=False)
    ids = tok.encode(CATS)
    assert store.token_ids.tolist() == ids
    for layer in (1, 3):
        k, v = hf_kv(hf_gpt2, tok.encode("\n") + ids, layer)
        torch.testing.assert_close(store.keys[layer], k[:, 1:], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(store.values[layer], v[:, 1:], atol=1e-5, rtol=1e-5)


def test_creation1_keeps_every_position(gpt2, hf_gpt2):
    model, tok = gpt2
    store = build_store(model, tok, CATS, [2], bookkeeping_token="", progress=False)
    k, _ = hf_kv(hf_gpt2, tok.encode(CATS), 2)
    torch.testing.assert_close(store.keys[2], k, atol=1e-5, rtol=1e-5)


def test_long_text_is_read_in_windows(gpt2, hf_gpt2):
    model, tok = gpt2  # context of 64: windows of 63 tokens after the bookkeeping token
    text = " ".join([CATS, DOGS] * 5)
    ids = tok.encode(text)
    assert len(ids) > 2 * 63
    store = build_store(model, tok, text, [2], progress=False)
    assert len(store) == len(ids) and store.keys[2].shape[1] == len(ids)
    k, v = hf_kv(hf_gpt2, tok.encode("\n") + ids[63:126], 2)  # the second window, read on its own
    torch.testing.assert_close(store.keys[2][:, 63:126], k[:, 1:], atol=1e-5, rtol=1e-5)


def test_save_load_round_trip_gives_the_same_retrieval(gpt2, tmp_path):
    model, tok = gpt2
    store = build_store(model, tok, CATS, [1, 2], progress=False)
    save_store(store, tmp_path / "s")
    loaded = load_store(tmp_path / "s")
    check_store(loaded, model, MemorySettings([0, 3, 3, 0]))
    for layer in (1, 2):
        assert torch.equal(loaded.keys[layer], store.keys[layer])
        assert torch.equal(loaded.values[layer], store.values[layer])
    assert torch.equal(loaded.token_ids, store.token_ids)
    assert loaded.meta["texts"] == [CATS] and loaded.meta["model_fingerprint"] == model.fingerprint
    settings = MemorySettings([0, 3, 3, 0], 5.0, 0.9, 1.0, False, 0.3)
    idx = torch.tensor([tok.encode("\nCats are horrible")])
    with torch.no_grad():
        a = Memory(store, settings, trace=[])
        b = Memory(loaded, settings, trace=[])
        assert torch.equal(model(idx, memory=a), model(idx, memory=b))
    assert a.trace == b.trace and len(a.trace) > 0


def test_append_adds_text_after_the_old_and_survives_saving(gpt2, tmp_path):
    model, tok = gpt2
    cats = build_store(model, tok, CATS, [2], progress=False)
    dogs = build_store(model, tok, DOGS, [2], progress=False)
    save_store(build_store(model, tok, CATS, [2], progress=False), tmp_path / "s")
    both = append_text(load_store(tmp_path / "s"), model, tok, DOGS, progress=False)
    save_store(both, tmp_path / "s")
    both = load_store(tmp_path / "s")
    assert torch.equal(both.keys[2], torch.cat([cats.keys[2], dogs.keys[2]], dim=1))
    assert torch.equal(both.token_ids, torch.cat([cats.token_ids, dogs.token_ids]))
    assert both.meta["texts"] == [CATS, DOGS] and both.meta["token_count"] == len(both)
    assert len(list((tmp_path / "s").glob("seg-*.safetensors"))) == 2  # the first segment kept, one new


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_knn_search_matches_brute_force(backend, monkeypatch):
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(3, 500, 16, generator=g)
    store = store_module.MemoryStore(dict(n_head=3, head_dim=16), {0: keys}, {0: -keys}, torch.arange(500))
    if backend == "faiss":
        monkeypatch.setattr(store_module, "TORCH_SEARCH_MAX", 0)
    queries = torch.randn(40, 16, generator=g)
    heads = torch.randint(0, 3, (40,), generator=g)
    got_k, got_v, found, dist, idx = store.search(0, heads, queries, 7)
    assert found.all()
    for i in range(40):
        d = ((keys[heads[i]] - queries[i]) ** 2).sum(-1)
        brute = torch.argsort(d)[:7]
        assert idx[i].tolist() == brute.tolist()
        np.testing.assert_allclose(dist[i].numpy(), d[brute].numpy(), rtol=1e-4, atol=1e-4)
        assert torch.equal(got_k[i], keys[heads[i], brute]) and torch.equal(got_v[i], -keys[heads[i], brute])


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_find_most_true_neighbours(kind):
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(2, 3000, 16, generator=g)
    store = store_module.MemoryStore(dict(n_head=2, head_dim=16, index=kind), {0: keys}, {0: keys}, torch.arange(3000))
    queries, heads = torch.randn(100, 16, generator=g), torch.randint(0, 2, (100,), generator=g)
    _, _, found, _, idx = store.search(0, heads, queries, 5)
    hits = 0
    for i in range(100):
        brute = torch.argsort(((keys[heads[i]] - queries[i]) ** 2).sum(-1))[:5]
        hits += len(set(idx[i].tolist()) & set(brute.tolist()))
    assert found.all() and hits / 500 >= 0.9, hits / 500


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_stores_keep_no_faiss_blob_and_rebuild_their_index(kind, tmp_path):
    """No index is deserialized from a file (an opaque blob FAISS parses unhardened): it is built again from the
    stored keys when first searched, and finds what the index built before saving found."""
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(2, 3000, 16, generator=g)
    meta = dict(n_head=2, n_query_head=2, head_dim=16, index=kind, layers=[0], model="m", model_fingerprint="f",
                bookkeeping_token="", tokenizer="t", texts=["x"], kv_dtype="float32")
    store = store_module.MemoryStore(meta, {0: keys}, {0: -keys}, torch.arange(3000))
    queries, heads = torch.randn(50, 16, generator=g), torch.randint(0, 2, (50,), generator=g)
    _, _, _, dist, idx = store.search(0, heads, queries, 5, metric="query_ip")
    save_store(store, tmp_path / "s")
    names = set(json.loads(next((tmp_path / "s").glob("seg-*.safetensors")).read_bytes()[8:8 + int.from_bytes(
        next((tmp_path / "s").glob("seg-*.safetensors")).read_bytes()[:8], "little")]))
    assert not any("faiss" in n for n in names)
    loaded = load_store(tmp_path / "s")
    assert not loaded._index
    _, _, _, dist2, idx2 = loaded.search(0, heads, queries, 5, metric="query_ip")
    assert torch.equal(idx2, idx) and torch.equal(dist2, dist) and len(loaded._index) == 2


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_search_with_k_larger_than_the_store_marks_missing(backend, monkeypatch):
    if backend == "faiss":
        monkeypatch.setattr(store_module, "TORCH_SEARCH_MAX", 0)
    keys = torch.randn(1, 3, 4)
    store = store_module.MemoryStore(dict(n_head=1, head_dim=4), {0: keys}, {0: keys}, torch.arange(3))
    _, _, found, dist, idx = store.search(0, torch.zeros(2, dtype=torch.long), torch.randn(2, 4), 5)
    assert found.sum(1).tolist() == [3, 3] and (idx[:, 3:] == -1).all() and torch.isinf(dist[:, 3:]).all()


# -----------------------------------------------------------------------------
# bad input: one clear line each

@pytest.fixture()
def saved(gpt2, tmp_path):
    model, tok = gpt2
    save_store(build_store(model, tok, CATS, [1, 2], progress=False), tmp_path / "s")
    return tmp_path / "s"


def tensors_file(path):
    return next(path.glob("seg-*.safetensors"))


def test_missing_store(tmp_path):
    with pytest.raises(MemoryStoreError) as e:
        load_store(tmp_path / "nowhere")
    assert_one_line(e, "no memory store", "build_memory.py")


def test_missing_manifest(saved):
    (saved / "manifest.json").unlink()
    with pytest.raises(MemoryStoreError) as e:
        load_store(saved)
    assert_one_line(e, "no memory store")


@pytest.mark.parametrize("garbage", ["{not json", "[]", '{"format_version": 2}'])
def test_corrupted_manifest(saved, garbage):
    (saved / "manifest.json").write_text(garbage)
    with pytest.raises(MemoryStoreError) as e:
        load_store(saved)
    assert_one_line(e, "corrupted manifest")


def test_truncated_tensors(saved):
    f = tensors_file(saved)
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(MemoryStoreError) as e:
        load_store(saved)
    assert_one_line(e, "corrupted", "checksum")


def test_flipped_bytes_in_tensors(saved):
    f = tensors_file(saved)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(MemoryStoreError) as e:
        load_store(saved)
    assert_one_line(e, "corrupted")


def test_missing_tensors(saved):
    tensors_file(saved).unlink()
    with pytest.raises(MemoryStoreError) as e:
        load_store(saved)
    assert_one_line(e, "incomplete")


def test_manifest_shape_disagrees_with_tensors(saved):
    meta = json.loads((saved / "manifest.json").read_text())
    meta["head_dim"] = 32
    (saved / "manifest.json").write_text(json.dumps(meta))
    with pytest.raises(MemoryStoreError) as e:
        load_store(saved)
    assert_one_line(e, "shape")


def test_store_from_another_model(saved, tmp_path):
    other, _ = load_model(save_random_gpt2(tmp_path / "other", seed=1))  # same shape, other weights
    with pytest.raises(MemoryStoreError) as e:
        check_store(load_store(saved), other)
    assert_one_line(e, "built with model", "rebuild")


def test_store_with_other_head_shapes(saved, tmp_path):
    other, _ = load_model(save_random_gpt2(tmp_path / "other", n_head=8))
    store = load_store(saved)
    store.meta["model_fingerprint"] = other.fingerprint  # get past the fingerprint to the shape check
    with pytest.raises(MemoryStoreError) as e:
        check_store(store, other)
    assert_one_line(e, "4 heads of dim 16", "8 of dim 8")


def test_settings_that_do_not_fit_the_store(gpt2, saved):
    model, _ = gpt2
    store = load_store(saved)
    with pytest.raises(MemoryStoreError) as e:
        check_store(store, model, MemorySettings([0, 5, 5, 5]))
    assert_one_line(e, "layers [3]", "holds layers [1, 2]")
    with pytest.raises(MemoryStoreError) as e:
        check_store(store, model, MemorySettings([0, 5, 5]))
    assert_one_line(e, "3 entries", "4 layers")


def test_empty_memory_text(gpt2):
    model, tok = gpt2
    with pytest.raises(MemoryStoreError) as e:
        build_store(model, tok, "", [1], progress=False)
    assert_one_line(e, "empty")


def test_refuses_to_write_into_a_foreign_directory(gpt2, tmp_path):
    model, tok = gpt2
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(MemoryStoreError) as e:
        save_store(build_store(model, tok, CATS, [1], progress=False), tmp_path)
    assert_one_line(e, "refusing")
    assert (tmp_path / "mine.txt").read_text() == "precious"


# -----------------------------------------------------------------------------
# atomic saving: a crash at any point leaves the previous store loadable and intact

class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", ["tensors", "manifest"])
def test_crash_while_saving_keeps_the_previous_store(gpt2, saved, monkeypatch, crash_at):
    model, tok = gpt2
    before = load_store(saved)
    bigger = append_text(load_store(saved), model, tok, DOGS, progress=False)
    if crash_at == "tensors":
        def half_written(tensors, filename):  # writes part of the file, then the process "dies"
            with open(filename, "wb") as f:
                f.write(b"\0" * 100)
            raise Crash()
        monkeypatch.setattr(disk, "save_file", half_written)
    else:
        real_replace = os.replace
        def crash_on_manifest(src, dst):
            if str(dst).endswith("manifest.json"):
                raise Crash()
            return real_replace(src, dst)
        monkeypatch.setattr(disk.os, "replace", crash_on_manifest)
    with pytest.raises(Crash):
        save_store(bigger, saved)
    monkeypatch.undo()
    after = load_store(saved)
    assert after.meta["texts"] == [CATS] and torch.equal(after.keys[1], before.keys[1])
    save_store(bigger, saved)  # and the next save works despite the leftovers
    assert load_store(saved).meta["texts"] == [CATS, DOGS]


def test_crash_during_first_save_leaves_no_valid_store(gpt2, tmp_path, monkeypatch):
    model, tok = gpt2
    real_replace = os.replace
    monkeypatch.setattr(disk.os, "replace",
                        lambda s, d: (_ for _ in ()).throw(Crash()) if str(d).endswith("manifest.json")
                        else real_replace(s, d))
    with pytest.raises(Crash):
        save_store(build_store(model, tok, CATS, [1], progress=False), tmp_path / "new")
    monkeypatch.undo()
    with pytest.raises(MemoryStoreError):
        load_store(tmp_path / "new")

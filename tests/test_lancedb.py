"""The chooser in a vector database: LanceDB, embedded (its real engine, in this process), against the exact torch
chooser (brute force over the chooser's keys) on the same store."""
import torch

from mtm.storage.disk import append_on_disk, build_on_disk, forget, load_store
from mtm.generation import generate
from memory import Memory, with_chunks
from mtm.method.settings import MemorySettings
from mtm.storage.reading import build_store

TEXTS = ["Cats are wonderful, loving companions.", "Dogs are loyal friends who love long walks in the park.",
         "The river Zembla flows north through the hills of Ord.", "Tea is grown on the slopes of the valley.",
         "Odile Marsh kept the lighthouse of Varn for forty years. She never missed a night.",
         "The bakery on Mill Street sells rye bread on Tuesdays only."]


def settings(n_layer, backend, chunk_by="text"):
    return MemorySettings([100] * n_layer, retrieval="attention", search="query_ip", chunk_select=2,
                          chunk_layers=[2], chunk_by=chunk_by, chunk_backend=backend).check()


def test_lancedb_scores_its_best_chunks_as_the_exact_chooser(llama):
    model, tok = llama
    store = build_store(model, tok, TEXTS, [2], progress=False)
    queries = torch.randn(3, 7, store.meta["head_dim"])
    for chunk_by in ("text", "sentence"):
        exact = store.chunk_scores(2, 1, queries, chunk_by, backend="torch")  # [R, C]
        found = store.chunk_scores(2, 1, queries, chunk_by, backend="lancedb", limit=3)
        assert ((found > float("-inf")).sum(dim=1) == 3).all()  # the limit's best chunks, scored
        assert torch.equal(found.topk(3).indices, exact.topk(3).indices)  # the same ones, in the same order
        kept = found > float("-inf")
        torch.testing.assert_close(found[kept], exact[kept], rtol=1e-5, atol=1e-4)


def test_lancedb_chooses_as_torch_and_follows_appends_and_forgetting(gpt2, tmp_path):
    model, tok = gpt2
    build_on_disk(tmp_path / "s", model, tok, TEXTS[:4], list(range(4)), progress=False, group_tokens=20)
    asked = [tok.encode(t) for t in ("Who kept the lighthouse?", "Where does the river flow", "What do cats do")]
    prompts = torch.tensor([ids[:min(map(len, asked))] for ids in asked])

    def chosen(backend):
        return with_chunks(model, prompts, Memory(load_store(tmp_path / "s"), settings(4, backend))).choice.chosen

    assert torch.equal(chosen("lancedb"), chosen("torch"))
    assert (tmp_path / "s" / "lancedb").is_dir()  # the table lives with the store
    append_on_disk(tmp_path / "s", model, tok, TEXTS[4:], progress=False)  # the table takes the new texts' chunks
    assert torch.equal(chosen("lancedb"), chosen("torch"))
    assert 4 in chosen("torch").tolist()[0]  # the lighthouse, appended, is read for the question about it
    victim = int(chosen("torch")[0, 0])
    forget(tmp_path / "s", [victim])
    now = chosen("lancedb")
    assert victim not in now.tolist()[0] and torch.equal(now, chosen("torch"))
    store = load_store(tmp_path / "s")
    want = generate(model, prompts, 6, temperature=0, memory=Memory(store, settings(4, "torch")))
    assert torch.equal(generate(model, prompts, 6, temperature=0, memory=Memory(store, settings(4, "lancedb"))), want)

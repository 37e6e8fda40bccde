"""kv='recompute': a store of token ids and the chooser's keys only. A chosen chunk's keys and values are read again
by the model; the reference is the store that kept them (kv='stored'), built from the same texts."""
import pytest
import torch

from mtm.storage.disk import append_on_disk, build_on_disk, load_store
from mtm.generation import generate
from memory import Memory, with_chunks
from mtm.method.settings import MemorySettings
from mtm.method.chunks import Choice, recompute_rows
from mtm.storage.reading import build_store
from mtm.storage.store import MemoryStoreError, check_store

# the tiny models' context is 64 (GPT-2, Llama) or 128 (Gemma) tokens: the long text is read in several windows
LONG = ("The lighthouse of Varn stands on a cliff. Its keeper, Odile Marsh, lit the lamp every night for forty "
        "years. Ships from the south steered by it. In the great storm the lamp went dark for one hour only. The "
        "harbour master of Ord wrote to the council about it, and the council sent a second keeper, a young man "
        "named Piet Lund, who kept a log of every ship that passed and of the weather at each bell.")
TEXTS = ["Cats are wonderful, loving companions.", LONG, "Tea is grown on the slopes of the valley. It is bitter."]


def chunk_settings(n_layer, chunk_by="text", position="before"):
    return MemorySettings([100] * n_layer, retrieval="attention", search="query_ip", chunk_select=2,
                          chunk_layers=[1], chunk_by=chunk_by, mem_position=position).check()


@pytest.mark.parametrize("family", ["gpt2", "llama", "gemma"])
def test_recomputed_keys_and_values_equal_the_stored_ones(family, request):
    model, tok = request.getfixturevalue(family)
    layers = list(range(model.config.n_layer))
    stored = build_store(model, tok, TEXTS, layers, progress=False)
    small = build_store(model, tok, TEXTS, [1], progress=False, kv="recompute")
    assert small.layers == [1] and not any("values" in name for name in small.parts[0])
    n = len(stored)
    assert (stored.text_ids == 1).sum() > small.meta["window"]  # the long text: several windows, later ones too
    torch.testing.assert_close(small.layer(1), stored.layer(1), rtol=0, atol=1e-5)
    index = torch.tensor([[0, 3, n - 1, n // 2], [n - 9, n // 2 + 1, n // 2 - 1, 5]])  # any rows, any order
    rows, kv = recompute_rows(model, small, index, layers)
    assert rows.tolist() == sorted(set(index.reshape(-1).tolist()))
    for layer in layers:
        keys, values = Memory(small, chunk_settings(model.config.n_layer), choice=Choice(None, None, None, None, (rows, kv))).gather(layer, index)
        want_keys, want_values = stored.gather(layer, index)
        torch.testing.assert_close(keys, want_keys, rtol=0, atol=1e-5)
        torch.testing.assert_close(values, want_values, rtol=0, atol=1e-5)
    for layer in layers:  # the sink of every layer: the chosen chunks are read after it in every layer
        torch.testing.assert_close(small.sink_keys[layer], stored.sink_keys[layer], rtol=0, atol=1e-6)


@pytest.mark.parametrize("family,chunk_by,position", [("gpt2", "text", "query"), ("llama", "sentence", "before"),
                                                     ("gemma", "text", "before")])
def test_a_recompute_store_answers_as_the_stored_one(family, chunk_by, position, request, tmp_path):
    model, tok = request.getfixturevalue(family)
    settings = chunk_settings(model.config.n_layer, chunk_by, position)
    stored = build_on_disk(tmp_path / "stored", model, tok, TEXTS, list(range(model.config.n_layer)), progress=False)
    small = build_on_disk(tmp_path / "small", model, tok, TEXTS, [1], progress=False, kv="recompute")
    check_store(small, model, settings)
    asked = [tok.encode("Who kept the lamp?"), tok.encode("What grows on the slopes?")]
    prompts = torch.tensor([ids[:min(map(len, asked))] for ids in asked])
    want = with_chunks(model, prompts, Memory(stored, settings))
    got = with_chunks(model, prompts, Memory(load_store(tmp_path / "small"), settings))
    assert torch.equal(got.choice.chosen, want.choice.chosen)
    assert torch.equal(generate(model, prompts, 8, temperature=0, memory=got),
                       generate(model, prompts, 8, temperature=0, memory=want))
    assert sum(f.stat().st_size for f in (tmp_path / "small").iterdir()) < \
        sum(f.stat().st_size for f in (tmp_path / "stored").iterdir()) / 3


def test_a_recompute_store_grows_and_says_what_reads_it(gpt2, tmp_path):
    model, tok = gpt2
    build_on_disk(tmp_path / "s", model, tok, TEXTS[:1], [1], progress=False, kv="recompute")
    grown = append_on_disk(tmp_path / "s", model, tok, TEXTS[1:], progress=False)
    whole = build_store(model, tok, TEXTS, [1], progress=False, kv="recompute")
    torch.testing.assert_close(grown.layer(1), whole.layer(1), rtol=0, atol=1e-5)
    assert torch.equal(grown.text_ids, whole.text_ids) and grown.recomputes
    blend = MemorySettings([0, 5, 0, 0]).check()
    with pytest.raises(MemoryStoreError, match="only chunk retrieval .chunk_select > 0. reads it") as e:
        check_store(grown, model, blend)
    assert "\n" not in str(e.value)
    other_layer = MemorySettings([100] * 4, retrieval="attention", search="query_ip", chunk_select=1,
                                 chunk_layers=[2]).check()
    with pytest.raises(MemoryStoreError, match=r"chunk_layers score the chunks in layers \[2\]"):
        check_store(grown, model, other_layer)
    with pytest.raises(MemoryStoreError, match="kv must be one of stored, recompute"):
        build_store(model, tok, TEXTS, [1], progress=False, kv="keys")

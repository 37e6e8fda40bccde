"""Our Llama against transformers' LlamaForCausalLM, and the method on it (pre-rotary keys, grouped KV heads)."""
import pytest
import torch

from memory import Memory
from mtm.method.settings import MemorySettings
from mtm.storage.reading import build_store
from reference import reference_llama_logits

TEXT = "Cats are wonderful, loving companions who fill a home with joy."


def test_logits_equal_transformers(llama, hf_llama):
    model, _ = llama
    idx = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(idx), hf_llama(idx).logits, atol=1e-5, rtol=1e-5)


def test_store_holds_pre_rotary_keys_per_kv_head(llama, hf_llama):
    model, tok = llama
    store = build_store(model, tok, TEXT, [2], progress=False)
    assert store.keys[2].shape == (2, len(TEXT), 8)  # KV heads, tokens, head_dim
    hidden = {}
    hook = hf_llama.model.layers[2].self_attn.k_proj.register_forward_hook(lambda m, i, o: hidden.update(k=o))
    with torch.no_grad():
        hf_llama(torch.tensor([tok.encode("\n" + TEXT)]))
    hook.remove()
    k = hidden["k"][0].view(-1, 2, 8).transpose(0, 1)[:, 1:]  # k_proj output = before the rotary embedding
    torch.testing.assert_close(store.keys[2], k, atol=1e-5, rtol=1e-5)


CASES = [  # resid_only, resid_frac, mf, bf, ts, knn per layer
    (False, 0.0, 5.0, 1.0, 1.0, [0, 5, 5, 0]),
    (True, 0.1, 0.0, 0.0, 1000.0, [0, 0, 5, 0]),
    (False, 0.33, 5.0, 0.9, 0.01, [0, 3, 5, 2]),
    (True, 0.5, 2.0, 0.0, 1.0, [2, 0, 0, 4]),
]


@pytest.mark.parametrize("case", CASES)
def test_llama_with_memory_matches_reference(llama, hf_llama, case):
    model, tok = llama
    resid_only, r, mf, bf, ts, knn_num = case
    settings = MemorySettings(knn_num, mf, bf, ts, resid_only, r)
    store = build_store(model, tok, TEXT, settings.layers, progress=False)
    idx = torch.tensor([tok.encode("\nCats are horrible"), tok.encode("\nDogs are friendly")])
    with torch.no_grad():
        ours, plain = model(idx, memory=Memory(store, settings)), model(idx)
    ref = reference_llama_logits(hf_llama.state_dict(), hf_llama.config, idx, dict(enumerate(knn_num)), store,
                                 settings)
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)
    assert (ours - plain).abs().max() > 1e-4  # the memory did something


def test_memory_of_the_same_text_finds_itself_and_changes_nothing(llama):
    model, tok = llama
    settings = MemorySettings([0, 1, 1, 1], mem_frac=5.0, bookkeeping_frac=1.0, knn_softmax_influence=1.0)
    store = build_store(model, tok, TEXT, settings.layers, bookkeeping_token="\n", progress=False)
    idx = torch.tensor([tok.encode("\n" + TEXT)])
    mem = Memory(store, settings, trace=[])
    with torch.no_grad():
        with_memory, plain = model(idx, memory=mem), model(idx)
    assert len(mem.trace) > 10
    assert all(r["memory_index"] == [r["position"] - 1] and r["distance"][0] < 1e-6 for r in mem.trace)
    torch.testing.assert_close(with_memory, plain, atol=1e-5, rtol=1e-5)


def test_bookkeeping_frac_one_with_mem_frac_zero_is_no_memory(llama):
    model, tok = llama
    settings = MemorySettings([5, 5, 5, 5], mem_frac=0.0, bookkeeping_frac=1.0, resid_frac=0.5)
    store = build_store(model, tok, "Dogs bark at night.", settings.layers, progress=False)
    idx = torch.tensor([tok.encode("\n" + TEXT)])
    mem = Memory(store, settings, trace=[])
    with torch.no_grad():  # explicit A @ v vs. fused attention: float rounding only
        torch.testing.assert_close(model(idx, memory=mem), model(idx), atol=2e-5, rtol=1e-5)
    assert mem.trace == []  # nothing selected

"""The method (memory.py) against the loop-based reference of METHOD.md (tests/reference.py)."""
import itertools

import pytest
import torch

from memory import Memory, memory_attention, select_positions
from mtm.method.settings import MemorySettings
from mtm.storage.reading import build_store
from mtm.storage.store import MemoryStore
from reference import reference_gpt2_logits, reference_memory_attention


def random_store(n_kv_head, n, d, layer=0, n_query_head=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(n_kv_head, n, d, generator=g)
    values = torch.randn(n_kv_head, n, d, generator=g)
    meta = dict(n_head=n_kv_head, n_query_head=n_query_head or n_kv_head, head_dim=d, layers=[layer])
    return MemoryStore(meta, {layer: keys}, {layer: values}, torch.arange(n))


def random_qkv(B, H, T, d, seed=1):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, H, T, d, generator=g) for _ in range(3))
    k[:, ::2, 0] = 4 * q[:, ::2, -1]  # every other head attends strongly to position 0, so BF matters
    return q, k, v


SETTINGS = [  # (type name, resid_only, resid_frac)
    ("type1", False, 0.0), ("type2", True, 0.1), ("type3", False, 0.33)]
GRID = list(itertools.product(SETTINGS, [0.0, 1.0, 5.0], [0.0, 0.5, 1.0], [0.01, 1.0, 30.0], [1, 3]))


@pytest.mark.parametrize("kind,mf,bf,ts,knn", GRID, ids=[f"{s[0]}-mf{mf}-bf{bf}-ts{ts}-k{k}" for s, mf, bf, ts, k in GRID])
def test_layer_matches_loop_reference(kind, mf, bf, ts, knn):
    _, resid_only, resid_frac = kind
    B, H, T, d, N = 2, 4, 9, 8, 20
    q, k, v = random_qkv(B, H, T, d)
    store = random_store(H, N, d)
    settings = MemorySettings(knn_num=[knn], mem_frac=mf, bookkeeping_frac=bf, knn_softmax_influence=ts,
                              resid_only=resid_only, resid_frac=resid_frac)
    y = memory_attention(q, k, v, Memory(store, settings), 0)
    ref = reference_memory_attention(q, k, v, store.keys[0], store.values[0], knn, mf, bf, ts, resid_only, resid_frac)
    torch.testing.assert_close(y.double(), ref, atol=1e-5, rtol=1e-5)


def test_layer_grid_is_not_vacuous():
    """The grid above must actually change values: some settings select many positions, some position 0."""
    q, k, v = random_qkv(2, 4, 9, 8)
    a = torch.softmax(q[:, :, -1:] @ k.transpose(-2, -1) / 8 ** 0.5, dim=-1)[:, :, 0]
    assert select_positions(a, 5.0, 0.0).sum() > 10
    assert select_positions(a, 0.0, 0.5)[..., 0].any() and not select_positions(a, 0.0, 0.5)[..., 0].all()
    store = random_store(4, 20, 8)
    plain = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    y = memory_attention(q, k, v, Memory(store, MemorySettings([3], 5.0, 0.5, 1.0)), 0)
    assert (y - plain).abs().max() > 1e-2


@pytest.mark.parametrize("resid_only", [False, True])
def test_store_smaller_than_k_gives_weight_zero_not_nan(resid_only):
    q, k, v = random_qkv(2, 4, 9, 8)
    store = random_store(4, 2, 8)  # 2 entries, k = 5
    settings = MemorySettings([5], 5.0, 0.0, 1.0, resid_only=resid_only, resid_frac=0.2)
    y = memory_attention(q, k, v, Memory(store, settings), 0)
    assert torch.isfinite(y).all()
    ref = reference_memory_attention(q, k, v, store.keys[0], store.values[0], 5, 5.0, 0.0, 1.0, resid_only, 0.2)
    torch.testing.assert_close(y.double(), ref, atol=1e-5, rtol=1e-5)


def test_grouped_kv_heads_and_separate_search_vectors():
    """Llama-style: 6 query heads share 2 KV-head stores; search and equation 5 use other (pre-rotary) vectors."""
    B, H, T, d = 2, 6, 7, 8
    q, k, v = random_qkv(B, H, T, d)
    q_raw, k_raw, _ = random_qkv(B, H, T, d, seed=5)
    store = random_store(2, 15, d, n_query_head=H)
    for resid_only, r in [(False, 0.0), (True, 0.1), (False, 0.33)]:
        settings = MemorySettings([3], 2.0, 0.3, 1.0, resid_only, r)
        y = memory_attention(q, k, v, Memory(store, settings), 0, q_raw=q_raw, k_raw=k_raw)
        ref = reference_memory_attention(q, k, v, store.keys[0], store.values[0], 3, 2.0, 0.3, 1.0, resid_only, r,
                                         q_raw=q_raw, k_raw=k_raw)
        torch.testing.assert_close(y.double(), ref, atol=1e-5, rtol=1e-5)


# -----------------------------------------------------------------------------
# the whole model: GPT-2 with memory layers against a reference forward from transformers' weights

MODEL_CASES = [  # resid_only, resid_frac, mf, bf, ts, knn per layer
    (False, 0.0, 5.0, 1.0, 1.0, [0, 5, 5, 0]),
    (True, 0.1, 0.0, 0.05, 1000.0, [0, 0, 5, 0]),
    (False, 0.33, 5.0, 0.9, 0.01, [0, 3, 5, 2]),
    (False, 0.33, 1.0, 0.0, 1.0, [4, 0, 0, 1]),
]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_gpt2_with_memory_matches_reference(gpt2, hf_gpt2, case):
    model, tok = gpt2
    resid_only, r, mf, bf, ts, knn_num = case
    settings = MemorySettings(knn_num, mf, bf, ts, resid_only, r)
    store = build_store(model, tok, "Cats are wonderful companions. I love my cat, she purrs all day long.",
                        settings.layers, progress=False)
    prompts = ["\nCats are horrible and", "\nThe weather today is nice"]  # batch of 2, same length
    idx = torch.tensor([tok.encode(p) for p in prompts])
    assert idx.shape[0] == 2
    with torch.no_grad():
        ours = model(idx, memory=Memory(store, settings))
        plain = model(idx)
    ref = reference_gpt2_logits(hf_gpt2.state_dict(), 4, idx, dict(enumerate(knn_num)), store, settings)
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)
    assert (ours - plain).abs().max() > 1e-4  # the memory did something


# -----------------------------------------------------------------------------
# invariants

TEXT = "\nCats are wonderful, loving companions who fill a home with joy. My cat purrs on my lap."


def test_creation2_memory_of_the_same_text_finds_itself_and_changes_nothing(gpt2):
    model, tok = gpt2
    settings = MemorySettings([0, 1, 1, 0], mem_frac=5.0, bookkeeping_frac=1.0, knn_softmax_influence=1.0)
    store = build_store(model, tok, TEXT[1:], settings.layers, bookkeeping_token="\n", progress=False)
    idx = torch.tensor([tok.encode(TEXT)])  # the bookkeeping token and then the same text
    mem = Memory(store, settings, trace=[])
    with torch.no_grad():
        with_memory, plain = model(idx, memory=mem), model(idx)
    assert len(mem.trace) > 10
    for r in mem.trace:
        assert r["memory_index"] == [r["position"] - 1], r  # the stored copy of this very token
        assert r["distance"][0] < 1e-6
    torch.testing.assert_close(with_memory, plain, atol=1e-5, rtol=1e-5)


def test_bookkeeping_frac_one_with_mem_frac_zero_is_no_memory(gpt2):
    model, tok = gpt2
    settings = MemorySettings([5, 5, 5, 5], mem_frac=0.0, bookkeeping_frac=1.0, knn_softmax_influence=1.0,
                              resid_frac=0.5)
    store = build_store(model, tok, "Something else entirely, about dogs.", settings.layers, progress=False)
    idx = torch.tensor([tok.encode(TEXT)])
    mem = Memory(store, settings, trace=[])
    with torch.no_grad():
        torch.testing.assert_close(model(idx, memory=mem), model(idx), atol=1e-6, rtol=1e-6)
    assert mem.trace == []

"""KV cache, the two memory modes, and seeds that do not depend on their batch."""
import pytest
import torch

from memory import Memory
from mtm.method.settings import MemorySettings
from mtm.storage.reading import build_store
from mtm.generation import KVCache, generate
from reference import reference_gpt2_cached_logits

CATS = "Cats are wonderful, loving companions. I love the way my cat purrs happily on my lap."
SETTINGS = [
    MemorySettings([0, 5, 5, 0], 5.0, 0.9, 0.01, False, 0.33),   # Table 1 style, Type 3
    MemorySettings([0, 0, 5, 0], 0.0, 0.0, 1000.0, True, 0.1),   # Table 4 style, Type 2 (position 0 only)
    MemorySettings([3, 0, 0, 2], 1.0, 0.0, 1.0, False, 0.0),     # Type 1, first layer on
]


@pytest.fixture(scope="module")
def stores(gpt2):
    model, tok = gpt2
    return [build_store(model, tok, CATS, s.layers, progress=False) for s in SETTINGS]


@pytest.mark.parametrize("case", range(len(SETTINGS)))
def test_cached_mode_matches_token_by_token_reference(gpt2, hf_gpt2, stores, case):
    model, tok = gpt2
    settings, store = SETTINGS[case], stores[case]
    idx = torch.tensor([tok.encode("\nCats are horrible and"), tok.encode("\nThe weather today is nice")])
    ref = reference_gpt2_cached_logits(hf_gpt2.state_dict(), 4, idx, dict(enumerate(settings.knn_num)), store,
                                       settings)
    mem = Memory(store, settings, mode="cached")
    with torch.no_grad():
        whole_prompt = model(idx, memory=mem, cache=KVCache())  # every row selects for itself
        cache = KVCache()
        one_by_one = torch.cat([model(idx[:, i:i + 1], memory=mem, cache=cache) for i in range(idx.shape[1])], dim=1)
        exact = model(idx, memory=Memory(store, settings, mode="exact"))
    torch.testing.assert_close(whole_prompt.double(), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(one_by_one.double(), ref, atol=1e-5, rtol=1e-5)
    # with MF > 0 the rows select differently, and exact mode's newest row chose for all of them
    # (with MF = 0, BF = 0 every row selects position 0 alone, so the modes agree)
    differ = (exact[:, :-1] - whole_prompt[:, :-1]).abs().max() > 1e-4
    assert differ == (settings.mem_frac > 0)


@pytest.mark.parametrize("fixture", ["gpt2", "llama"])
@pytest.mark.parametrize("case", range(len(SETTINGS)))
def test_exact_mode_with_cache_equals_full_recompute(request, fixture, case):
    model, tok = request.getfixturevalue(fixture)
    settings = SETTINGS[case]
    mem = Memory(build_store(model, tok, CATS, settings.layers, progress=False), settings, mode="exact")
    idx = torch.tensor([tok.encode("\nCats are horrible")] * 2)
    slow = generate(model, idx, 12, temperature=0, memory=mem, use_cache=False)
    fast = generate(model, idx, 12, temperature=0, memory=mem, use_cache=True)
    assert fast.tolist() == slow.tolist()
    cache = KVCache()
    with torch.no_grad():
        model(fast[:, :-3], memory=mem, cache=cache)
        for i in range(3, 0, -1):
            step = model(fast[:, -i:fast.shape[1] - i + 1], memory=mem, cache=cache)
        full = model(fast, memory=mem)
    torch.testing.assert_close(step[:, -1], full[:, -1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fixture", ["gpt2", "llama"])
def test_cache_without_memory_equals_full_recompute(request, fixture):
    model, tok = request.getfixturevalue(fixture)
    idx = torch.tensor([tok.encode("\nCats are horrible")] * 3)
    gens = lambda: [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    assert generate(model, idx, 20, 0.8, 200, generator=gens()).tolist() == \
        generate(model, idx, 20, 0.8, 200, generator=gens(), use_cache=False).tolist()


@pytest.mark.parametrize("mode", [None, "exact", "cached"])
def test_a_seeds_continuation_does_not_depend_on_its_batch(gpt2, stores, mode):
    model, tok = gpt2
    mem = None if mode is None else Memory(stores[0], SETTINGS[0], mode=mode)
    seeds = [1337, 7, 99, 2024]
    idx = torch.tensor([tok.encode("\nCats are horrible")] * len(seeds))
    together = generate(model, idx, 20, 0.8, 200, memory=mem, generator=[torch.Generator().manual_seed(s) for s in seeds])
    for row, s in enumerate(seeds):
        alone = generate(model, idx[:1], 20, 0.8, 200, memory=mem, generator=[torch.Generator().manual_seed(s)])
        assert alone[0].tolist() == together[row].tolist(), s
    assert len({tuple(r) for r in together.tolist()}) == len(seeds)  # the seeds really differ


def test_generation_past_the_context_keeps_going(gpt2, stores):
    model, tok = gpt2  # context of 64
    idx = torch.tensor([tok.encode("\nCats are horrible")])
    for mem in (None, Memory(stores[0], SETTINGS[0], mode="cached"), Memory(stores[0], SETTINGS[0], mode="exact")):
        out = generate(model, idx, 70, temperature=0, memory=mem)
        assert out.shape[1] == idx.shape[1] + 70
        slow = generate(model, idx, 70, temperature=0, memory=mem, use_cache=False)
        assert out.tolist() == slow.tolist()

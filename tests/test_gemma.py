"""Our Gemma 3 against transformers' Gemma3ForCausalLM (tiny random weights, prompts past the sliding window), and
the method on it against the loop reference (tests/reference.py): every retrieval variant, local and global layers."""
import pytest
import torch

from memory import Memory, with_chunks
from mtm.method.settings import MemorySettings
from mtm.storage.reading import build_store
from mtm.generation import generate
from reference import reference_gemma_logits

TEXTS = ["Cats are wonderful, loving companions. They purr.", "The ferry leaves at noon! It is blue.",
         "Mist lies on the river.", "Bread rises when yeast eats sugar and makes gas."]
LONG = "\nThe ferry leaves at noon, and the cats purr"  # 44 tokens: past the tiny model's window of 8


def prompts(tok, *texts):
    return torch.tensor([tok.prompt(t) for t in texts])


def test_logits_equal_transformers_past_the_window(gemma, hf_gemma):
    model, _ = gemma
    idx = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(idx), hf_gemma(idx).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("break_it", ["no window", "one rotary base", "head_dim scale", "llama norms"])
def test_each_gemma_difference_matters(gemma, hf_gemma, gemma_dir, break_it):
    """The equivalence test can fail: undo one of Gemma's differences and the logits part from transformers'."""
    from mtm.families.llama import RMSNorm
    from mtm.loading import from_pretrained
    model = from_pretrained(gemma_dir)
    for block in model.model.layers:
        attn = block.self_attn
        if break_it == "no window":
            attn.window = None
        elif break_it == "one rotary base":
            attn.rope_theta = model.config.rope_theta
        elif break_it == "head_dim scale":
            attn.q_scale = 1.0
        else:  # x * w where Gemma has x * (1 + w)
            block.input_layernorm.forward = RMSNorm.forward.__get__(block.input_layernorm)
    idx = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(idx) - hf_gemma(idx).logits).abs().max() > 1e-2


def test_generation_with_cache_past_the_window_equals_transformers(gemma, hf_gemma):
    model, tok = gemma
    idx = prompts(tok, LONG)
    ours = generate(model, idx, 12, temperature=0)
    theirs = hf_gemma.generate(idx, max_new_tokens=12, do_sample=False, min_new_tokens=12, pad_token_id=0)
    assert torch.equal(ours, theirs)
    assert torch.equal(ours, generate(model, idx, 12, temperature=0, use_cache=False))


def test_store_holds_normed_pre_rotary_keys(gemma, hf_gemma):
    model, tok = gemma
    store = build_store(model, tok, TEXTS[0], [1, 2], bookkeeping_token="\x01", progress=False)
    hidden = {}
    norm = hf_gemma.model.layers[1].self_attn.k_norm
    hook = norm.register_forward_hook(lambda m, i, o: hidden.update(k=o))
    with torch.no_grad():
        hf_gemma(torch.tensor([[1] + list(TEXTS[0].encode())]))
    hook.remove()
    assert store.keys[1].shape == (2, len(TEXTS[0]), 16)  # KV heads, tokens, head_dim 16 (not 48 / 4)
    torch.testing.assert_close(store.keys[1], hidden["k"][0, :, 1:], atol=1e-5, rtol=1e-5)  # after k_norm


CASES = [  # resid_only, resid_frac, mf, bf, ts, knn per layer: local layers 0, 1, 3, 4, global 2, 5
    (False, 0.0, 5.0, 1.0, 1.0, [0, 5, 5, 0, 3, 0]),
    (False, 0.33, 5.0, 0.9, 0.01, [2, 0, 0, 5, 0, 4]),
    (True, 0.5, 2.0, 0.0, 1.0, [0, 4, 0, 0, 0, 2]),
]


@pytest.mark.parametrize("case", CASES)
def test_gemma_with_memory_matches_reference(gemma, hf_gemma, case):
    """The paper's method (blend, exact mode), in local and global layers, with a prompt past the window."""
    model, tok = gemma
    resid_only, r, mf, bf, ts, knn_num = case
    settings = MemorySettings(knn_num, mf, bf, ts, resid_only, r)
    store = build_store(model, tok, TEXTS, settings.layers, progress=False)
    idx = prompts(tok, LONG, LONG.upper())
    with torch.no_grad():
        ours, plain = model(idx, memory=Memory(store, settings)), model(idx)
    ref = reference_gemma_logits(hf_gemma.state_dict(), hf_gemma.config, idx, dict(enumerate(knn_num)), store,
                                 settings)
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)
    assert (ours - plain).abs().max() > 1e-4  # the memory did something


@pytest.mark.parametrize("position,knn,sink,hide", [("before", 1000, True, 0), ("query", 1000, False, 0),
                                                    ("before", 5, False, 0), ("before", 5, True, 0),
                                                    ("before", 1000, True, 1), ("before", 5, True, 2)])
def test_gemma_chunk_retrieval_matches_reference(gemma, hf_gemma, position, knn, sink, hide):
    """Chunk retrieval (the recall issue's setting) in local and global layers; memory entries are never cut by
    the window, though the chunks laid out before the context sit further back than it reaches. hide: the prompt's
    first positions hidden behind the memory (mem_hide_start), the memory moved up as many positions."""
    model, tok = gemma
    settings = MemorySettings([0, knn, knn, 0, knn, 1000], retrieval="attention", search="query_ip", chunk_select=2,
                              chunk_layers=[2], mem_position=position, mem_sink=sink, mem_hide_start=hide).check()
    store = build_store(model, tok, TEXTS, settings.store_layers, bookkeeping_token="\x01", progress=False)
    idx = prompts(tok, LONG, LONG.lower())
    memory = with_chunks(model, idx, Memory(store, settings))
    index, _, valid = memory.choice.entries
    entries = [index[b][valid[b]].tolist() for b in range(2)]
    chosen = (entries, [list(range(hide - len(e), hide)) for e in entries])  # laid out just before the prompt's
    # first shown position
    with torch.no_grad():
        ours, plain = model(idx, memory=memory), model(idx)
    ref = reference_gemma_logits(hf_gemma.state_dict(), hf_gemma.config, idx, dict(enumerate(settings.knn_num)),
                                 store, settings, chosen)
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)
    assert (ours - plain).abs().max() > 1e-3


def test_gemma_knn_attention_over_the_whole_store_matches_reference(gemma, hf_gemma):
    model, tok = gemma
    settings = MemorySettings([3, 0, 4, 2, 0, 0], retrieval="attention", search="query_cos", mem_threshold=0.1).check()
    store = build_store(model, tok, TEXTS, settings.store_layers, progress=False)
    idx = prompts(tok, LONG, LONG.lower())
    with torch.no_grad():
        ours = model(idx, memory=Memory(store, settings))
    ref = reference_gemma_logits(hf_gemma.state_dict(), hf_gemma.config, idx, dict(enumerate(settings.knn_num)),
                                 store, settings)
    torch.testing.assert_close(ours.double(), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("retrieval", ["blend", "attention"])
def test_generation_with_memory_and_cache_equals_recomputing(gemma, retrieval):
    model, tok = gemma
    if retrieval == "blend":
        settings = MemorySettings([0, 5, 5, 0, 3, 0], 5.0, 0.9, 1.0)
    else:
        settings = MemorySettings([1000] * 6, retrieval="attention", chunk_select=2, chunk_layers=[2],
                                  mem_position="before").check()
    store = build_store(model, tok, TEXTS, settings.store_layers, progress=False)
    idx = prompts(tok, LONG, LONG)
    for mode in ("exact", "cached"):
        cached = generate(model, idx, 8, temperature=0, memory=Memory(store, settings, mode=mode))
        full = generate(model, idx, 8, temperature=0, memory=Memory(store, settings, mode=mode), use_cache=False)
        assert torch.equal(cached, full)

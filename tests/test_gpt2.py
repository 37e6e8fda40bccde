"""Our GPT-2 against transformers' GPT2LMHeadModel on the same (random) weights, and loading."""
import shutil

import pytest
import torch

from conftest import TOKENIZER_FILES
from mtm.generation import generate
from mtm.loading import WeightsUnavailable, from_pretrained, gpt2_tokenizer, load_model


def test_logits_equal_transformers(gpt2, hf_gpt2):
    model, tok = gpt2
    idx = torch.tensor([tok.encode("\nCats are horrible and dogs are"), tok.encode("\nThe name of the city is a")])
    with torch.no_grad():
        ours, theirs = model(idx), hf_gpt2(idx).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_greedy_generation_equals_transformers(gpt2, hf_gpt2):
    model, tok = gpt2
    idx = torch.tensor([tok.encode("\nCats are")])
    ours = generate(model, idx, 12, temperature=0)
    theirs = hf_gpt2.generate(idx, max_new_tokens=12, do_sample=False, pad_token_id=0)
    assert ours.tolist() == theirs.tolist()


def test_full_context_is_accepted_and_longer_is_refused(gpt2):
    model, _ = gpt2
    with torch.no_grad():
        assert model(torch.zeros(1, 64, dtype=torch.long)).shape == (1, 64, 50257)
    with pytest.raises(AssertionError):
        model(torch.zeros(1, 65, dtype=torch.long))


def test_tokenizer_from_model_dir_equals_tiktoken_gpt2(gpt2_dir, tmp_path, monkeypatch):
    """Offline the model directory's vocab.json/merges.txt; online tiktoken's cached download of the same files."""
    import hashlib
    import tiktoken
    cache = tmp_path / "tiktoken"
    cache.mkdir()
    base = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
    for name in ("vocab.bpe", "encoder.json"):  # tiktoken's cache layout: sha1 of the URL
        shutil.copy(TOKENIZER_FILES / name, cache / hashlib.sha1((base + name).encode()).hexdigest())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    tiktoken.registry.ENCODINGS.pop("gpt2", None)
    text = "\nThe name of the city with the third-largest metropolitan area in Canada is Vancouver.<|endoftext|>"
    ours, theirs = gpt2_tokenizer(gpt2_dir), gpt2_tokenizer(None)
    assert ours.encode(text) == theirs.encode(text)
    assert ours.encode(text)[-1] == 50256 and ours.decode(ours.encode(text)) == text


def test_missing_weights_give_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(WeightsUnavailable) as e:
        from_pretrained("gpt2")
    msg = str(e.value)
    assert "\n" not in msg and "--init_from" in msg and "internet" in msg


def test_missing_directory_and_unknown_name(tmp_path):
    with pytest.raises(WeightsUnavailable, match="no model directory"):
        from_pretrained(str(tmp_path / "nope"))
    with pytest.raises(WeightsUnavailable, match="unknown init_from"):
        load_model("gpt-5")


def test_dtype_and_fingerprint(gpt2_dir):
    a, _ = load_model(gpt2_dir)
    b, _ = load_model(gpt2_dir, dtype="bfloat16")
    assert b.transformer.wte.weight.dtype == torch.bfloat16
    from mtm.loading import weights_fingerprint
    assert weights_fingerprint(a) == weights_fingerprint(b) == a.fingerprint  # same weights, any dtype

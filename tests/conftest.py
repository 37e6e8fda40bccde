import shutil
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # tests (never the code) may use ../shared
TOKENIZER_FILES = SHARED / "gpt2-tokenizer"


def save_random_gpt2(path, seed=0, n_layer=4, n_head=4, n_embd=64, n_positions=64):
    """A randomly initialised GPT-2-shaped model in transformers' format, with GPT-2's tokenizer files."""
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_positions=n_positions, vocab_size=50257)
    GPT2LMHeadModel(config).save_pretrained(path, safe_serialization=True)
    shutil.copy(TOKENIZER_FILES / "encoder.json", Path(path) / "vocab.json")
    shutil.copy(TOKENIZER_FILES / "vocab.bpe", Path(path) / "merges.txt")
    return str(path)


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    return save_random_gpt2(tmp_path_factory.mktemp("gpt2tiny"))


@pytest.fixture(scope="session")
def gpt2(gpt2_dir):
    from mtm.loading import load_model
    return load_model(gpt2_dir)  # (model, tokenizer)


@pytest.fixture(scope="session")
def hf_gpt2(gpt2_dir):
    from transformers import GPT2LMHeadModel
    return GPT2LMHeadModel.from_pretrained(gpt2_dir).eval()


def save_random_llama(path, seed=0):
    """A tiny randomly initialised Llama (grouped KV heads, tied embeddings) in transformers' format."""
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=256, hidden_size=48, intermediate_size=96, num_hidden_layers=4,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64,
                         rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # transformers initialises small; larger weights make attention and memory matter
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0, 0.2)
    model.save_pretrained(path, safe_serialization=True)
    return str(path)


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory):
    return save_random_llama(tmp_path_factory.mktemp("llamatiny"))


@pytest.fixture(scope="session")
def llama(llama_dir):
    """(model, tokenizer): a byte-level tokenizer fits the tiny vocabulary of 256."""
    from mtm.loading import Tokenizer, from_pretrained
    tokenizer = Tokenizer("bytes", lambda s: list(s.encode()), lambda ids: bytes(ids).decode(errors="replace"))
    return from_pretrained(llama_dir), tokenizer


def save_random_gemma(path, seed=0):
    """A tiny randomly initialised Gemma 3: two KV heads for four query heads, head_dim 16 (not 48 / 4), a scale
    query_pre_attn_scalar 24 (not head_dim), a sliding window of 8 in layers 0, 1, 3, 4 with their own rotary base."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=256, hidden_size=48, intermediate_size=96, num_hidden_layers=6, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, query_pre_attn_scalar=24, sliding_window=8,
        rms_norm_eps=1e-6, tie_word_embeddings=True, layer_types=["sliding_attention"] * 2 + ["full_attention"] +
        ["sliding_attention"] * 2 + ["full_attention"],
        rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
    model = Gemma3ForCausalLM(config)
    with torch.no_grad():  # norms too: Gemma's are 1 + w, and w = 0 would hide a missing 1
        for name, p in model.named_parameters():
            p.normal_(0, 0.3 if "norm" in name else 0.2)
    model.save_pretrained(path, safe_serialization=True)
    return str(path)


@pytest.fixture(scope="session")
def gemma_dir(tmp_path_factory):
    return save_random_gemma(tmp_path_factory.mktemp("gemmatiny"))


@pytest.fixture(scope="session")
def gemma(gemma_dir):
    """(model, tokenizer): bytes, and byte 1 standing in for <bos> (what every sequence starts with)."""
    from mtm.loading import Tokenizer, from_pretrained
    tokenizer = Tokenizer("bytes", lambda s: list(s.encode()), lambda ids: bytes(ids).decode(errors="replace"), (1,))
    return from_pretrained(gemma_dir), tokenizer


@pytest.fixture(scope="session")
def hf_gemma(gemma_dir):
    from transformers import Gemma3ForCausalLM
    return Gemma3ForCausalLM.from_pretrained(gemma_dir).eval()


@pytest.fixture(scope="session")
def hf_llama(llama_dir):
    from transformers import LlamaForCausalLM
    return LlamaForCausalLM.from_pretrained(llama_dir).eval()

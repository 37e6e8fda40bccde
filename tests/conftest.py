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
    from model import load_model
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
    from model import Llama, Tokenizer
    tokenizer = Tokenizer("bytes", lambda s: list(s.encode()), lambda ids: bytes(ids).decode(errors="replace"))
    return Llama.from_pretrained(llama_dir), tokenizer


@pytest.fixture(scope="session")
def hf_llama(llama_dir):
    from transformers import LlamaForCausalLM
    return LlamaForCausalLM.from_pretrained(llama_dir).eval()

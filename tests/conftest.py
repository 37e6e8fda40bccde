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

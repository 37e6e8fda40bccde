"""
Loading: transformers-format checkpoints mapped onto our families (the registry FAMILIES), the tokenizers, the
embedded models (embedded.py) and weight fingerprints. Above the families and generation, below the scripts.

    model, tokenizer = load_model("smollm2")   # or 'gemma3', a GPT-2 name, a local transformers-format directory
"""

import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch

from mtm.families.llama import Gemma, GemmaConfig, Llama, LlamaConfig
from model import GPT, GPTConfig


class WeightsUnavailable(RuntimeError):
    """Model weights or tokenizer files that cannot be had here: one line saying how to get them."""


def weights_fingerprint(model):
    """A short hash of the model's weights: a strided sample of every tensor, rounded to bfloat16
    so that the same weights give the same fingerprint in float32, float16 or bfloat16."""
    h = hashlib.sha256()
    for name, p in model.state_dict().items():
        flat = p.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 4096)].to(torch.bfloat16).float().cpu()
        h.update(name.encode())
        h.update(str(tuple(p.shape)).encode())
        h.update(sample.numpy().tobytes())
    return h.hexdigest()[:16]


# -----------------------------------------------------------------------------
# the families: transformers' config -> ours; the weights keep their names

def gpt2_config(c, path):
    return GPTConfig(block_size=c.n_positions, vocab_size=c.vocab_size, n_layer=c.n_layer, n_head=c.n_head,
                     n_embd=c.n_embd, layer_norm_epsilon=c.layer_norm_epsilon)


def llama_config(c, path):
    rope = getattr(c, "rope_parameters", None) or {"rope_type": "default", "rope_theta": c.rope_theta}
    if rope.get("rope_type", "default") != "default":
        raise WeightsUnavailable(f"{path}: rotary scaling '{rope['rope_type']}' is not supported")
    return LlamaConfig(block_size=c.max_position_embeddings, vocab_size=c.vocab_size, n_layer=c.num_hidden_layers,
                       n_head=c.num_attention_heads, n_kv_head=c.num_key_value_heads, n_embd=c.hidden_size,
                       head_dim=getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads,
                       intermediate_size=c.intermediate_size, rope_theta=float(rope["rope_theta"]),
                       rms_norm_eps=c.rms_norm_eps, tie_word_embeddings=c.tie_word_embeddings)


def gemma_config(c, path):
    rope = c.rope_parameters
    for kind in ("full_attention", "sliding_attention"):
        if rope[kind].get("rope_type", "default") != "default":
            raise WeightsUnavailable(f"{path}: rotary scaling '{rope[kind]['rope_type']}' is not supported")
    if c.final_logit_softcapping or c.attn_logit_softcapping:
        raise WeightsUnavailable(f"{path}: logit soft-capping (Gemma 2) is not supported")
    return GemmaConfig(block_size=c.max_position_embeddings, vocab_size=c.vocab_size, n_layer=c.num_hidden_layers,
                       n_head=c.num_attention_heads, n_kv_head=c.num_key_value_heads, n_embd=c.hidden_size,
                       head_dim=c.head_dim, intermediate_size=c.intermediate_size,
                       rope_theta=float(rope["full_attention"]["rope_theta"]),
                       rope_local_theta=float(rope["sliding_attention"]["rope_theta"]), rms_norm_eps=c.rms_norm_eps,
                       query_pre_attn_scalar=float(c.query_pre_attn_scalar), sliding_window=c.sliding_window,
                       layer_types=tuple(c.layer_types), tie_word_embeddings=c.tie_word_embeddings)


@dataclass(frozen=True)
class Family:
    transformers_class: str  # the transformers model class whose checkpoints these are
    config: callable         # (transformers config, path) -> our config
    model: type              # our model class
    transposed: tuple = ()   # weights stored transposed (GPT-2's Conv1D modules)
    bookkeeping_token: str = "\n"  # what memory text is read after: Gemma reads text badly without its <bos>


FAMILIES = {  # transformers' model_type -> Family. A new family: its file at the bottom, one line here
    "gpt2": Family("GPT2LMHeadModel", gpt2_config, GPT,
                   ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")),
    "llama": Family("LlamaForCausalLM", llama_config, Llama),
    "gemma3_text": Family("Gemma3ForCausalLM", gemma_config, Gemma, bookkeeping_token="<bos>"),
}
GPT2_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
EMBEDDED_TYPES = {"smollm2": "llama", "gemma3": "gemma3_text"}  # the embedded models' families
CHOOSERS = {  # the embedded models' chunk chooser, chosen on the fact benchmark's dev split (docs/results.md)
    "smollm2": dict(chunk_layers=[17], chunk_heads=[3, 4, 5]),
    "gemma3": dict(chunk_layers=[5], chunk_heads=[1, 2, 3]),  # layer 5: Gemma's first global layer
}


def model_type_of(init_from):
    """The family (transformers' model_type) of an init_from, read before any weights load."""
    if init_from in EMBEDDED_TYPES:
        return EMBEDDED_TYPES[init_from]
    config = Path(init_from) / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text()).get("model_type", "gpt2")
        except (OSError, ValueError):
            return None  # load_model says what is wrong with the directory
    return "gpt2" if init_from in GPT2_NAMES else None


def model_facts(init_from):
    """What every setting of this model shares, whatever the template: the bookkeeping token its family reads
    memory text after, and the embedded models' chunk chooser. Settings left None take these (with_facts)."""
    family = FAMILIES.get(model_type_of(init_from))
    return dict(bookkeeping_token=family.bookkeeping_token if family else "\n", **CHOOSERS.get(init_from, {}))


def facts_of_model(model):
    """model_facts of a loaded model (its name, or else its family's class)."""
    facts = model_facts(getattr(model, "name", ""))
    family = next((f for f in FAMILIES.values() if type(model) is f.model), None)
    return dict(facts, bookkeeping_token=family.bookkeeping_token) if family else facts


def hub_reachable(host="huggingface.co", timeout=3.0):
    """Whether downloading can work at all; lets an offline machine fail in a second, not after retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_transformers_model(hf_class, name_or_path):
    """Weights from a local directory, transformers' cache, or (where there is internet) the hub."""
    if os.path.isdir(name_or_path):
        return hf_class.from_pretrained(name_or_path, use_safetensors=True, dtype=torch.float32)
    if os.sep in str(name_or_path) or str(name_or_path).startswith("."):
        raise WeightsUnavailable(f"no model directory at {name_or_path}")
    try:
        return hf_class.from_pretrained(name_or_path, local_files_only=True, dtype=torch.float32)
    except OSError:
        pass
    if not hub_reachable():
        raise WeightsUnavailable(
            f"the weights of '{name_or_path}' are not on this machine and the model hub cannot be reached: run once "
            f"with internet access (transformers caches them), or pass --init_from=/path/to/dir holding a "
            f"transformers-format {name_or_path} (config.json + model.safetensors)")
    return hf_class.from_pretrained(name_or_path, dtype=torch.float32)


def from_pretrained(name_or_path, name=None):
    """Our model with a transformers checkpoint's weights: a local directory (its config.json says the family) or
    a GPT-2 name (through transformers' cache or the hub)."""
    import transformers
    path = Path(name_or_path)
    config = path / "config.json"
    model_type = json.loads(config.read_text()).get("model_type") if config.is_file() else "gpt2"
    if model_type not in FAMILIES:
        raise WeightsUnavailable(f"{name_or_path}: model_type '{model_type}' is not one of {', '.join(FAMILIES)}")
    family = FAMILIES[model_type]
    hf = load_transformers_model(getattr(transformers, family.transformers_class), name_or_path)
    model = family.model(family.config(hf.config, name_or_path), name=name or str(name_or_path))
    state = {k: w.t() if k.endswith(family.transposed) else w for k, w in hf.state_dict().items()}
    missing = set(model.state_dict()) - set(state) - {"lm_head.weight"}  # a tied lm_head may be absent
    if missing:
        raise WeightsUnavailable(f"{name_or_path}: weights missing for {sorted(missing)[:3]}")
    model.load_state_dict(state, strict=False)
    model.eval()
    model.fingerprint = weights_fingerprint(model)
    return model


# -----------------------------------------------------------------------------
# tokenizers

@dataclass
class Tokenizer:
    name: str
    encode: callable  # str -> list[int], no special tokens added
    decode: callable  # list[int] -> str
    bos: tuple = ()  # what a sequence must start with (Gemma: its <bos>, without which it reads text badly)

    def prompt(self, text):
        """The ids of a text that starts a sequence: a prompt, or a context's first text."""
        return list(self.bos) + self.encode(text)


def gpt2_tokenizer(model_dir=None):
    """tiktoken's GPT-2 BPE. A model directory holding vocab.json + merges.txt (transformers' names for the
    same two files) is used as is, so a local GPT-2 works offline; otherwise tiktoken fetches and caches them."""
    import tiktoken
    if model_dir is not None and (Path(model_dir) / "vocab.json").is_file() and (Path(model_dir) / "merges.txt").is_file():
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks
        from tiktoken_ext.openai_public import ENDOFTEXT, r50k_pat_str  # tiktoken's own gpt2 definition
        ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=str(Path(model_dir) / "merges.txt"),
                                                encoder_json_file=str(Path(model_dir) / "vocab.json"))
        enc = tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                special_tokens={ENDOFTEXT: 50256})
    else:
        try:
            enc = tiktoken.get_encoding("gpt2")
        except Exception as e:  # tiktoken raises plain connection errors from requests
            raise WeightsUnavailable(f"GPT-2 tokenizer files are not cached and cannot be downloaded ({type(e).__name__}); "
                                     f"run once with internet, or put vocab.json and merges.txt in the model directory")
    return Tokenizer("gpt2", lambda s: enc.encode(s, allowed_special={"<|endoftext|>"}), enc.decode)


def hf_tokenizer(model_dir, name, bos=()):
    """A transformers-format directory's tokenizer.json, through the tokenizers library; special tokens are kept
    visible when decoding (e.g. "<|im_end|>")."""
    from tokenizers import Tokenizer as HFTokenizer
    tok = HFTokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    return Tokenizer(name, lambda s: tok.encode(s, add_special_tokens=False).ids,
                     lambda ids: tok.decode(list(ids), skip_special_tokens=False), tuple(bos))


# -----------------------------------------------------------------------------
# the scripts' one entry point

def load_model(init_from, device="cpu", dtype="float32"):
    """(model, tokenizer) for 'smollm2' (the embedded default), 'gemma3', a GPT-2 name, or a local
    transformers-format GPT-2, Llama or Gemma 3 directory."""
    from mtm import embedded
    transformers_logging_quiet()
    if init_from in embedded.PIP_HINTS:
        path, name = embedded.converted_dir(init_from), init_from
    elif os.path.isdir(init_from):
        path, name = Path(init_from), str(init_from)
    elif init_from in GPT2_NAMES:
        path, name = None, init_from
    else:
        raise WeightsUnavailable(f"unknown init_from '{init_from}': use smollm2, gemma3, one of {', '.join(GPT2_NAMES)}, "
                                 f"or a local transformers-format directory")
    config = json.loads((path / "config.json").read_text()) if path is not None else {"model_type": "gpt2"}
    model = from_pretrained(path or init_from, name)
    if config.get("model_type") == "gpt2":
        tokenizer = gpt2_tokenizer(path)
    else:  # Gemma's tokenizer adds <bos>, as transformers' does
        bos = [config["bos_token_id"]] if config.get("model_type") == "gemma3_text" else []
        tokenizer = hf_tokenizer(path, name, bos)
    return model.to(device=device, dtype=getattr(torch, dtype)), tokenizer  # dtype: checked by configurator.RULES


def transformers_logging_quiet():
    """transformers' per-load progress bars say nothing useful to a sampling script."""
    from transformers.utils import logging
    logging.disable_progress_bar()

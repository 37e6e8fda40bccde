"""
The language models, nanoGPT style, with a medium-term memory in chosen attention layers.

GPT: GPT-2 (weights from transformers: the hub names or a local directory), the paper's model.
The rotary families, Llama (SmolLM2) and Gemma 3, are in llama.py; the KV cache, generation and loading of all
three are here. Every attention layer calls memory.memory_attention where the memory is on in that layer,
and plain scaled_dot_product_attention elsewhere. Parameter names follow transformers'
modeling files, so checkpoints map one-to-one.
"""

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn import functional as F

from memory import choose_chunks, memory_attention, retrieval_attention, visible_positions, weights_fingerprint


class WeightsUnavailable(RuntimeError):
    """Model weights or tokenizer files that cannot be had here: one line saying how to get them."""


# -----------------------------------------------------------------------------
# the KV cache, shared by every model

class KVCache:
    """
    Past positions' keys and values, per layer; in memory layers also the queries (and, for rotary models,
    the pre-rotary queries and keys) the method reads, the updated values it has computed (memory.py), and,
    in exact memory mode, the layer's input. Exact mode recomputes only the rows whose outputs can change:
    from the first position whose selection changed (see memory_attention).
    """

    def __init__(self, capacity=0):
        self.layers = {}
        self.length = 0  # positions processed so far
        self.capacity = capacity  # positions to make room for at once (generate knows how many it will need)

    def write(self, layer, start, **new):
        """Write each named tensor [..., T_new, d] at positions start.. (overwriting what was there) and return
        the first start + T_new positions of each, in order. A buffer grows by doubling, so a new token costs
        no copy of the past, as torch.cat of the whole cache at every step would."""
        entry = self.layers.setdefault(layer, {})
        out = []
        for name, t in new.items():
            end = start + t.shape[-2]
            buf = entry.get(name)
            if buf is None or buf.shape[-2] < end:
                grown = t.new_empty(*t.shape[:-2], max(end, 2 * start, self.capacity), t.shape[-1])
                if buf is not None:
                    grown[..., :start, :] = buf[..., :start, :]
                entry[name] = buf = grown
            buf[..., start:end, :] = t
            out.append(buf[..., :end, :])
        return out


def layer_input(x, memory, cache, layer, start):
    """x [B, T, C] (positions start..), or, for a memory layer in exact mode with a cache, the inputs of all
    positions so far, kept in the cache: its attention recomputes earlier rows when their selection changed,
    and their residual needs them."""
    if cache is None or memory is None or not memory.recomputes or not memory.active(layer):
        return x
    x_all, = cache.write(layer, start, x=x)
    return x_all


def causal_attention(q, k, v, window=None):
    """scaled_dot_product_attention for the last Tq of T positions (Tq = T: a prompt; Tq = 1: a new token);
    window: a sliding-window layer's width (each row sees its last `window` positions)."""
    Tq, T = q.shape[2], k.shape[2]
    if window is None and (Tq == T or Tq == 1):
        return F.scaled_dot_product_attention(q, k, v, is_causal=Tq > 1, enable_gqa=True)
    mask = visible_positions(T - Tq, T, window, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)


# -----------------------------------------------------------------------------
# GPT-2

@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50257
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    layer_norm_epsilon: float = 1e-5

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    @property
    def n_kv_head(self):
        return self.n_head


class CausalSelfAttention(nn.Module):

    def __init__(self, config, layer_idx):
        super().__init__()
        self.layer_idx = layer_idx
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)  # query, key, value for all heads
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x, memory=None, capture=None, cache=None, start=0):
        """x: [B, T, C], positions start..start+T-1 (start > 0: earlier ones are in the cache).
        Returns [B, T', C] for the last T' >= T positions: more in exact memory mode when earlier rows changed."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # [B, H, T, d]
        if capture is not None and self.layer_idx in capture:  # building a memory, choosing chunks: keep Q, K, V
            capture[self.layer_idx] = (q, k, v)
        use_memory = memory is not None and memory.active(self.layer_idx)
        if use_memory and memory.settings.retrieval == "attention":  # memory entries join the softmax
            if cache is not None:
                k, v = cache.write(self.layer_idx, start, k=k, v=v)
            y = retrieval_attention(q, k, v, memory, self.layer_idx)
            return self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        if cache is not None:  # all positions so far; a memory layer also keeps the queries, the method reads them
            if use_memory:
                q, k, v = cache.write(self.layer_idx, start, q=q, k=k, v=v)
            else:
                k, v = cache.write(self.layer_idx, start, k=k, v=v)
        if use_memory:
            y = memory_attention(q, k, v, memory, self.layer_idx, cache=cache, start=start)
        else:
            y = causal_attention(q, k, v)
        return self.c_proj(y.transpose(1, 2).reshape(B, y.shape[2], C))


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))  # GPT-2's "gelu_new"


class Block(nn.Module):

    def __init__(self, config, layer_idx):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x, memory=None, capture=None, cache=None, start=0):
        x_all = layer_input(x, memory, cache, self.attn.layer_idx, start)
        y = self.attn(self.ln_1(x), memory, capture, cache, start)
        x = x_all[:, -y.shape[1]:] + y  # the attention may have recomputed earlier rows too
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):

    def __init__(self, config, name="gpt2"):
        super().__init__()
        self.config = config
        self.name = name
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            h=nn.ModuleList([Block(config, i) for i in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as in GPT-2

    def forward(self, idx, memory=None, capture=None, cache=None, last_only=False):
        """idx: [B, T] token ids -> logits [B, T, vocab]. memory: a memory.Memory or None.
        capture: {layer: None} to be filled with that layer's (keys, values), for building a memory.
        cache: a KVCache holding the positions before idx, extended with idx's.
        last_only: logits of the last position only, [B, 1, vocab] (generation needs no more)."""
        T = idx.shape[1]
        start = cache.length if cache is not None else 0
        end = start + T
        assert end <= self.config.block_size, f"{end} positions, the context holds {self.config.block_size}"
        memory = with_chunks(self, idx, memory)
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(start, end, device=idx.device))
        for block in self.transformer.h:
            x = block(x, memory, capture, cache, end - x.shape[1])  # x: the last rows, up to position end
        if cache is not None:
            cache.length = end
        return self.lm_head(self.transformer.ln_f(x[:, -(1 if last_only else T):]))

    @classmethod
    def from_pretrained(cls, name_or_path):
        """'gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl' (through transformers, downloaded once where
        there is internet) or a local transformers-format directory (config.json + model.safetensors)."""
        from transformers import GPT2LMHeadModel
        hf = load_transformers_model(GPT2LMHeadModel, name_or_path)
        c = hf.config
        config = GPTConfig(block_size=c.n_positions, vocab_size=c.vocab_size, n_layer=c.n_layer, n_head=c.n_head,
                           n_embd=c.n_embd, layer_norm_epsilon=c.layer_norm_epsilon)
        model = cls(config, name=str(name_or_path))
        sd_hf = hf.state_dict()
        # transformers' GPT-2 uses Conv1D modules, whose weights are the transpose of nn.Linear's
        conv1d = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
        with torch.no_grad():
            for name, p in model.state_dict().items():
                w = sd_hf[name]
                p.copy_(w.t() if name.endswith(conv1d) else w)
        model.eval()
        model.fingerprint = weights_fingerprint(model)
        return model


# -----------------------------------------------------------------------------
# generation

def with_chunks(model, idx, memory):
    """Chunk retrieval chooses its chunks once, from the prompt (memory.choose_chunks); generate does it before
    the first step, so that the steps after it keep the same chunks."""
    if memory is None or not memory.settings.chunk_select or memory.chosen is not None:
        return memory
    return choose_chunks(model, idx, memory)


def sample_next(logits, temperature, top_k, generator):
    """logits [B, V] -> next ids [B, 1]. generator: one torch.Generator, or a list of one per row, so that
    each row draws from its own stream and a seed's continuation does not depend on its batch.
    With top_k the draw is among the top k only: the same distribution as masking the rest with -inf,
    but torch.multinomial then draws k random numbers per row instead of one per vocabulary entry,
    which at batch 100 and a vocabulary of 50K took about as long as the model's step."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    ids = None
    if top_k is not None:
        logits, ids = torch.topk(logits, min(top_k, logits.size(-1)))
    probs = F.softmax(logits.float() / temperature, dim=-1)
    if isinstance(generator, (list, tuple)):
        choice = torch.cat([torch.multinomial(p[None], 1, generator=g) for p, g in zip(probs, generator)])
    else:
        choice = torch.multinomial(probs, num_samples=1, generator=generator)
    return choice if ids is None else ids.gather(1, choice)


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, memory=None, generator=None, use_cache=True):
    """
    idx: [B, T] prompt ids -> [B, T + max_new_tokens]. With use_cache, a KV cache: in exact memory mode
    (memory.mode == 'exact', the paper's) every step still re-selects with the newest token's attention,
    and recomputes, from the first memory layer on, the rows from the first position whose selection
    changed: the same result as recomputing everything. In cached mode each new token uses the memory for
    its own output only. use_cache=False recomputes everything, as the paper did.
    """
    block_size = model.config.block_size
    capacity = min(idx.shape[1] + max_new_tokens, block_size)  # all the positions the cache will hold
    new_cache = lambda: KVCache(capacity) if use_cache else None
    cache = new_cache()
    memory = with_chunks(model, idx, memory)
    x = idx
    for _ in range(max_new_tokens):
        if cache is None or cache.length + x.shape[1] > block_size:  # no cache, or the context is full
            cache, x = new_cache(), idx[:, -block_size:]
        logits = model(x, memory=memory, cache=cache, last_only=True)[:, -1, :]
        x = sample_next(logits, temperature, top_k, generator)
        idx = torch.cat((idx, x), dim=1)
    return idx


# -----------------------------------------------------------------------------
# loading: weights through transformers, tokenizers, one entry point for the scripts

GPT2_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")


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
    """A transformers-format directory's tokenizer.json, through the tokenizers library."""
    from tokenizers import Tokenizer as HFTokenizer
    tok = HFTokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    return Tokenizer(name, lambda s: tok.encode(s, add_special_tokens=False).ids,
                     lambda ids: tok.decode(list(ids), skip_special_tokens=False), tuple(bos))


def load_model(init_from, device="cpu", dtype="float32"):
    """The scripts' one entry point: (model, tokenizer) for 'smollm2' (the embedded default), 'gemma3',
    a GPT-2 name, or a local transformers-format GPT-2, Llama or Gemma 3 directory."""
    from llama import Gemma, Llama  # llama.py builds on this file's parts
    import embedded  # finds and converts the embedded models
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
    model_type = config.get("model_type")
    if model_type == "llama":
        model, tokenizer = Llama.from_pretrained(path, name=name), hf_tokenizer(path, name)
    elif model_type == "gemma3_text":  # its tokenizer adds <bos>, as transformers' does
        model = Gemma.from_pretrained(path, name=name)
        tokenizer = hf_tokenizer(path, name, bos=[config["bos_token_id"]])
    else:
        model = GPT.from_pretrained(init_from)
        tokenizer = gpt2_tokenizer(init_from if path is not None else None)
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    return model.to(device=device, dtype=dtypes[dtype]), tokenizer


def transformers_logging_quiet():
    """transformers' per-load progress bars say nothing useful to a sampling script."""
    from transformers.utils import logging
    logging.disable_progress_bar()

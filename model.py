"""
GPT-2, the paper's model, nanoGPT style, with a medium-term memory in chosen attention layers.

The attention computes q, k, v and hands them to memory.attend, which writes the KV cache and applies the memory
where it is on in that layer (plain causal attention elsewhere). Parameter names follow transformers' modeling
files, so checkpoints map one-to-one (loading.py maps them). The rotary families (Llama, Gemma 3): llama.py.
Generation: generation.py.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

from memory import attend, layer_input, with_chunks


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
    window: int = 0  # 0: every position sees all before it (GPT-2); W > 0: only its last W (a sliding window)

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
        self.window = config.window or None
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
        y = attend(q, k, v, self.layer_idx, memory, cache, start, window=self.window)
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
        x_all = layer_input(x, self.attn.layer_idx, memory, cache, start)
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
        capture: {layer: None} to be filled with that layer's (q, k, v), for building a memory: the forward stops
        after the last of those layers and returns None.
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
            if capture and all(c is not None for c in capture.values()):
                return None  # reading memory text needs the captured layers' keys and values, nothing above them
        if cache is not None:
            cache.length = end
        return self.lm_head(self.transformer.ln_f(x[:, -(1 if last_only else T):]))

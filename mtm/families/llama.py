"""
The rotary-position families, nanoGPT style, with the medium-term memory in chosen attention layers.

Llama: the Llama family (SmolLM2-135M-Instruct is the embedded default; see embedded.py).
Gemma: Gemma 3 (the embedded Gemma 3 270M): the Llama parts with Gemma's differences, each a small override.
Both store keys before the rotary embedding (position-free memory) and share each KV head among a group of query
heads. Each attention computes its q, k, v (and their pre-rotary versions, and its window) and hands them to
memory.attend: nothing of the memory is here. Parameter names follow transformers' modeling files, so checkpoints
map one-to-one (loading.py maps them). Generation: generation.py.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

from memory import attend, layer_input, with_chunks


# -----------------------------------------------------------------------------
# Llama family (SmolLM2): RMSNorm, rotary positions, grouped-query attention, SwiGLU

@dataclass
class LlamaConfig:
    block_size: int = 8192
    vocab_size: int = 49152
    n_layer: int = 30
    n_head: int = 9
    n_kv_head: int = 3
    n_embd: int = 576
    head_dim: int = 64
    intermediate_size: int = 1536
    rope_theta: float = 100000.0
    rms_norm_eps: float = 1e-5
    tie_word_embeddings: bool = True


class RMSNorm(nn.Module):

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rotary_at(rope_theta, head_dim, positions):
    """cos, sin [..., head_dim] at any integer positions [...] (negative too: memory laid out before the context)."""
    inv_freq = 1.0 / rope_theta ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim)
    freqs = positions.float()[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)[:, None]  # [B, 1, M, head_dim]: the same for every head
    return emb.cos(), emb.sin()


def apply_rotary(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class LlamaAttention(nn.Module):

    def __init__(self, config, layer_idx):
        super().__init__()
        self.layer_idx = layer_idx
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.rope_theta = config.rope_theta
        self.window = None  # every position sees every earlier one (Gemma: a sliding window in local layers)
        self.q_proj = nn.Linear(config.n_embd, config.n_head * config.head_dim, bias=False)
        self.k_proj = nn.Linear(config.n_embd, config.n_kv_head * config.head_dim, bias=False)
        self.v_proj = nn.Linear(config.n_embd, config.n_kv_head * config.head_dim, bias=False)
        self.o_proj = nn.Linear(config.n_head * config.head_dim, config.n_embd, bias=False)

    def project(self, x):
        """x [B, T, C] -> q [B, H, T, d], k, v [B, H_kv, T, d], before the rotary embedding."""
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        return q, k, v

    def rotate(self, x, positions):
        """x [B, H_kv, M, d] rotated to any positions [B, M] (memory laid out before the context)."""
        return apply_rotary(x, *rotary_at(self.rope_theta, self.head_dim, positions))

    def forward(self, x, cos, sin, memory=None, capture=None, cache=None, start=0):
        """As CausalSelfAttention.forward; cos, sin: [T, head_dim] for x's positions."""
        B, T, _ = x.shape
        q, k, v = self.project(x)
        if capture is not None and self.layer_idx in capture:  # the store keeps pre-rotary keys: position-free
            capture[self.layer_idx] = (q, k, v)
        y = attend(apply_rotary(q, cos, sin), apply_rotary(k, cos, sin), v, self.layer_idx, memory, cache, start,
                   q_raw=q, k_raw=k, rotate=self.rotate, window=self.window)
        return self.o_proj(y.transpose(1, 2).reshape(B, y.shape[2], self.n_head * self.head_dim))


class LlamaMLP(nn.Module):
    activation = staticmethod(F.silu)  # SwiGLU

    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.n_embd, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.n_embd, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.n_embd, bias=False)

    def forward(self, x):
        return self.down_proj(self.activation(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    attention_class, mlp_class, norm_class = LlamaAttention, LlamaMLP, RMSNorm

    def __init__(self, config, layer_idx):
        super().__init__()
        self.input_layernorm = self.norm_class(config.n_embd, config.rms_norm_eps)
        self.self_attn = self.attention_class(config, layer_idx)
        self.post_attention_layernorm = self.norm_class(config.n_embd, config.rms_norm_eps)
        self.mlp = self.mlp_class(config)

    def forward(self, x, cos, sin, memory=None, capture=None, cache=None, start=0):
        x_all = layer_input(x, self.self_attn.layer_idx, memory, cache, start)
        y = self.self_attn(self.input_layernorm(x), cos, sin, memory, capture, cache, start)
        x = x_all[:, -y.shape[1]:] + y  # the attention may have recomputed earlier rows too
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    block_class, norm_class = LlamaBlock, RMSNorm

    def __init__(self, config, name="llama"):
        super().__init__()
        self.config = config
        self.name = name
        self.model = nn.ModuleDict(dict(
            embed_tokens=nn.Embedding(config.vocab_size, config.n_embd),
            layers=nn.ModuleList([self.block_class(config, i) for i in range(config.n_layer)]),
            norm=self.norm_class(config.n_embd, config.rms_norm_eps),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.rotary = {}  # rotary base -> (cos, sin) [positions, head_dim], made once per device and dtype, grown

    def embed(self, idx):
        return self.model.embed_tokens(idx)

    def rotary_table(self, theta, end, like):
        """cos, sin [>= end, head_dim] for rotary base theta, computed once (not at every step), grown by doubling."""
        table = self.rotary.get(theta)
        if table is None or table[0].shape[0] < end or table[0].dtype != like.dtype or table[0].device != like.device:
            n = min(max(end, 2 * (table[0].shape[0] if table is not None else 256)), self.config.block_size)
            cs = rotary_at(theta, self.config.head_dim, torch.arange(n, device=like.device)[None])  # [1, 1, n, d]
            self.rotary[theta] = table = tuple(t[0, 0].to(like.dtype) for t in cs)
        return table

    def forward(self, idx, memory=None, capture=None, cache=None, last_only=False):
        """As GPT.forward. capture receives pre-rotary keys and values per KV head."""
        T = idx.shape[1]
        start = cache.length if cache is not None else 0
        end = start + T
        assert end <= self.config.block_size, f"{end} positions, the context holds {self.config.block_size}"
        memory = with_chunks(self, idx, memory)
        x = self.embed(idx)
        for block in self.model.layers:
            n = x.shape[1]  # the last rows, up to position end: more where exact memory mode recomputes
            cos, sin = self.rotary_table(block.self_attn.rope_theta, end, x)
            x = block(x, cos[end - n:end], sin[end - n:end], memory, capture, cache, end - n)
            if capture and all(c is not None for c in capture.values()):
                return None  # reading memory text needs the captured layers' keys and values, nothing above them
        if cache is not None:
            cache.length = end
        return self.lm_head(self.model.norm(x[:, -(1 if last_only else T):]))


# -----------------------------------------------------------------------------
# Gemma 3: the Llama layout with Gemma's differences, each a small override of the Llama part it changes

@dataclass
class GemmaConfig(LlamaConfig):
    block_size: int = 32768
    vocab_size: int = 262144
    n_layer: int = 18
    n_head: int = 4
    n_kv_head: int = 1
    n_embd: int = 640
    head_dim: int = 256  # not n_embd / n_head
    intermediate_size: int = 2048
    rope_theta: float = 1000000.0  # global layers
    rope_local_theta: float = 10000.0  # sliding-window layers
    rms_norm_eps: float = 1e-6
    query_pre_attn_scalar: float = 256.0  # the attention scale is its -1/2 power, not head_dim's
    sliding_window: int = 512
    layer_types: tuple = ()  # 'sliding_attention' or 'full_attention' per layer (default: every sixth global)

    def is_local(self, layer):
        types = self.layer_types or ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
                                     for i in range(self.n_layer)]
        return types[layer] == "sliding_attention"


class GemmaRMSNorm(RMSNorm):
    """x * (1 + w), all in float32: transformers' checkpoints store w (the GGUF stores 1 + w; the conversion
    through transformers subtracts the 1 once, so it is added here once)."""

    def __init__(self, dim, eps):
        super().__init__(dim, eps)
        nn.init.zeros_(self.weight)

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps) * (1.0 + self.weight.float())).to(x.dtype)


class GemmaAttention(LlamaAttention):
    """Per-head RMSNorm on queries and keys before the rotary embedding (the store keeps these normed, position-
    free keys); scale query_pre_attn_scalar^-1/2; local layers see a sliding window with their own rotary base."""

    def __init__(self, config, layer_idx):
        super().__init__(config, layer_idx)
        self.q_norm = GemmaRMSNorm(config.head_dim, config.rms_norm_eps)
        self.k_norm = GemmaRMSNorm(config.head_dim, config.rms_norm_eps)
        if config.is_local(layer_idx):
            self.window, self.rope_theta = config.sliding_window, config.rope_local_theta
        # every attention here (and memory.py's) scales by head_dim^-1/2: folding the ratio into the queries gives
        # query_pre_attn_scalar^-1/2 everywhere without a second scale to pass around (1 for Gemma 3 270M)
        self.q_scale = math.sqrt(config.head_dim / config.query_pre_attn_scalar)

    def project(self, x):
        q, k, v = super().project(x)
        q = self.q_norm(q)
        return (q * self.q_scale if self.q_scale != 1.0 else q), self.k_norm(k), v


class GemmaMLP(LlamaMLP):
    activation = staticmethod(lambda x: F.gelu(x, approximate="tanh"))  # GeGLU


class GemmaBlock(LlamaBlock):
    """Four norms: the attention's and the feed-forward's outputs are normed too, before each residual add."""
    attention_class, mlp_class, norm_class = GemmaAttention, GemmaMLP, GemmaRMSNorm

    def __init__(self, config, layer_idx):
        super().__init__(config, layer_idx)
        self.pre_feedforward_layernorm = GemmaRMSNorm(config.n_embd, config.rms_norm_eps)
        self.post_feedforward_layernorm = GemmaRMSNorm(config.n_embd, config.rms_norm_eps)

    def forward(self, x, cos, sin, memory=None, capture=None, cache=None, start=0):
        x_all = layer_input(x, self.self_attn.layer_idx, memory, cache, start)
        y = self.self_attn(self.input_layernorm(x), cos, sin, memory, capture, cache, start)
        x = x_all[:, -y.shape[1]:] + self.post_attention_layernorm(y)  # more rows than x where exact mode recomputed
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))


class Gemma(Llama):
    """Gemma 3 (text): embeddings scaled by sqrt(n_embd), tied output layer, Gemma's blocks and norms."""
    block_class, norm_class = GemmaBlock, GemmaRMSNorm

    def embed(self, idx):
        x = self.model.embed_tokens(idx)
        return x * torch.tensor(self.config.n_embd ** 0.5, dtype=x.dtype)  # rounded to the dtype, as transformers

"""
The rotary-position families, nanoGPT style, with the medium-term memory in chosen attention layers.

Llama: the Llama family (SmolLM2-135M-Instruct is the embedded default; see embedded.py).
Gemma: Gemma 3 (the embedded Gemma 3 270M): the Llama parts with Gemma's differences, each a small override.
Both store keys before the rotary embedding (position-free memory) and share each KV head among a group of query
heads. Parameter names follow transformers' modeling files, so checkpoints map one-to-one. The KV cache,
generation and loading are in model.py, beside GPT-2.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

from memory import memory_attention, retrieval_attention, weights_fingerprint
from model import WeightsUnavailable, causal_attention, layer_input, load_transformers_model, with_chunks


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


def rotary_cos_sin(rope_theta, head_dim, T, device):
    """cos, sin [T, head_dim] for positions 0..T-1 (transformers' layout: two halves, not interleaved)."""
    inv_freq = 1.0 / rope_theta ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim)
    freqs = torch.outer(torch.arange(T, device=device).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


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

    def forward(self, x, cos, sin, memory=None, capture=None, cache=None, start=0):
        """As CausalSelfAttention.forward; cos, sin: [T, head_dim] for x's positions."""
        B, T, _ = x.shape
        q, k, v = self.project(x)
        if capture is not None and self.layer_idx in capture:  # the store keeps pre-rotary keys: position-free
            capture[self.layer_idx] = (q, k, v)
        use_memory = memory is not None and memory.active(self.layer_idx)
        q_rot, k_rot = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if use_memory and memory.settings.retrieval == "attention":  # memory entries join the softmax
            if cache is not None:
                k_rot, v = cache.write(self.layer_idx, start, k_rot=k_rot, v=v)
            rotate = lambda x, positions: apply_rotary(x, *rotary_at(self.rope_theta, self.head_dim, positions))
            y = retrieval_attention(q_rot, k_rot, v, memory, self.layer_idx, q_raw=q, rotate=rotate, window=self.window)
            return self.o_proj(y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim))
        if cache is not None:  # all positions so far; a memory layer also keeps the queries and pre-rotary keys
            if use_memory:
                q_rot, k_rot, v, q, k = cache.write(self.layer_idx, start, q_rot=q_rot, k_rot=k_rot, v=v, q=q, k=k)
            else:
                k_rot, v = cache.write(self.layer_idx, start, k_rot=k_rot, v=v)
        if use_memory:  # KV heads are shared by groups of query heads; memory_attention reads them so
            y = memory_attention(q_rot, k_rot, v, memory, self.layer_idx, q_raw=q, k_raw=k, cache=cache, start=start,
                                 window=self.window)
        else:
            y = causal_attention(q_rot, k_rot, v, self.window)
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
        x_all = layer_input(x, memory, cache, self.self_attn.layer_idx, start)
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
            self.rotary[theta] = table = tuple(t.to(like.dtype) for t in
                                               rotary_cos_sin(theta, self.config.head_dim, n, like.device))
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
        if cache is not None:
            cache.length = end
        return self.lm_head(self.model.norm(x[:, -(1 if last_only else T):]))

    @classmethod
    def from_pretrained(cls, path, name=None):
        """A local transformers-format Llama directory (config.json + model.safetensors)."""
        from transformers import LlamaForCausalLM
        hf = load_transformers_model(LlamaForCausalLM, path)
        c = hf.config
        rope = getattr(c, "rope_parameters", None) or {"rope_type": "default", "rope_theta": c.rope_theta}
        if rope.get("rope_type", "default") != "default":
            raise WeightsUnavailable(f"{path}: rotary scaling '{rope['rope_type']}' is not supported")
        config = LlamaConfig(block_size=c.max_position_embeddings, vocab_size=c.vocab_size,
                             n_layer=c.num_hidden_layers, n_head=c.num_attention_heads,
                             n_kv_head=c.num_key_value_heads, n_embd=c.hidden_size,
                             head_dim=getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads,
                             intermediate_size=c.intermediate_size, rope_theta=float(rope["rope_theta"]),
                             rms_norm_eps=c.rms_norm_eps, tie_word_embeddings=c.tie_word_embeddings)
        return cls.load_state(config, hf, name or str(path))

    @classmethod
    def load_state(cls, config, hf, name):
        """Our model with transformers' model hf's weights: the same parameter names."""
        model = cls(config, name=name)
        model.load_state_dict(hf.state_dict(), strict=False)  # the tied lm_head may be absent
        missing = set(model.state_dict()) - set(hf.state_dict())
        if missing - {"lm_head.weight"}:
            raise WeightsUnavailable(f"{name}: weights missing for {sorted(missing)[:3]}")
        model.eval()
        model.fingerprint = weights_fingerprint(model)
        return model


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
        x_all = layer_input(x, memory, cache, self.self_attn.layer_idx, start)
        y = self.self_attn(self.input_layernorm(x), cos, sin, memory, capture, cache, start)
        x = x_all[:, -y.shape[1]:] + self.post_attention_layernorm(y)  # more rows than x where exact mode recomputed
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))


class Gemma(Llama):
    """Gemma 3 (text): embeddings scaled by sqrt(n_embd), tied output layer, Gemma's blocks and norms."""
    block_class, norm_class = GemmaBlock, GemmaRMSNorm

    def embed(self, idx):
        x = self.model.embed_tokens(idx)
        return x * torch.tensor(self.config.n_embd ** 0.5, dtype=x.dtype)  # rounded to the dtype, as transformers

    @classmethod
    def from_pretrained(cls, path, name=None):
        """A local transformers-format Gemma 3 text directory (config.json + model.safetensors)."""
        from transformers import Gemma3ForCausalLM
        hf = load_transformers_model(Gemma3ForCausalLM, path)
        c = hf.config
        rope = c.rope_parameters
        for kind in ("full_attention", "sliding_attention"):
            if rope[kind].get("rope_type", "default") != "default":
                raise WeightsUnavailable(f"{path}: rotary scaling '{rope[kind]['rope_type']}' is not supported")
        if c.final_logit_softcapping or c.attn_logit_softcapping:
            raise WeightsUnavailable(f"{path}: logit soft-capping (Gemma 2) is not supported")
        config = GemmaConfig(block_size=c.max_position_embeddings, vocab_size=c.vocab_size,
                             n_layer=c.num_hidden_layers, n_head=c.num_attention_heads, n_kv_head=c.num_key_value_heads,
                             n_embd=c.hidden_size, head_dim=c.head_dim, intermediate_size=c.intermediate_size,
                             rope_theta=float(rope["full_attention"]["rope_theta"]),
                             rope_local_theta=float(rope["sliding_attention"]["rope_theta"]),
                             rms_norm_eps=c.rms_norm_eps, query_pre_attn_scalar=float(c.query_pre_attn_scalar),
                             sliding_window=c.sliding_window, layer_types=tuple(c.layer_types),
                             tie_word_embeddings=c.tie_word_embeddings)
        return cls.load_state(config, hf, name or str(path))

"""
The window + memory path of issue 17: a model with a sliding attention window reads a sequence token by token,
and every position's keys and values go into a memory as they leave the window; memory.py's kNN attention
(retrieval='attention', no chunks) reads that memory in the layers where knn_num is on. Nothing is trained for it:
the memory is added to a model trained with the window alone (or used while training, as Memorizing
Transformers do). One memory per batch row, exact search (a per-row matmul): the sequences here are short.

    settings = MemorySettings(knn_num=[0, 32], retrieval="attention", search="query_ip")
    logits = forward_with_memory(model, ids, settings)    # ids [B, T] -> logits [B, T, vocab]
    logits = forward_parallel(model, ids, settings)       # the same in one call, differentiable: for training

The two read the same memory (tests/test_sliding.py): the first as a model reading a stream would, position after
position; the second all rows at once, each query restricted to the positions that have left its window, with the
memory's keys and values detached (not differentiated, as Memorizing Transformers' memories), so that a model can
be trained with the memory it will read (train.py's architecture='window_mtm').
"""
import torch
from torch import nn

from mtm.generation import KVCache
from memory import Memory
from mtm.method.settings import MemorySettings
from model import GPT, GPTConfig


def _pad_to_k(found_k, found_v, found, dist, idx, k):
    """Pad a search's results from top < k to k columns as MemoryStore does: zeros, not found, inf, -1."""
    S, top, d = found_k.shape
    if top == k:
        return found_k, found_v, found, dist, idx
    pad = k - top
    found_k, found_v = (torch.cat([x, x.new_zeros(S, pad, d)], 1) for x in (found_k, found_v))
    found = torch.cat([found, found.new_zeros(S, pad)], 1)
    dist = torch.cat([dist, dist.new_full((S, pad), float("inf"))], 1)
    idx = torch.cat([idx, idx.new_full((S, pad), -1)], 1)
    return found_k, found_v, found, dist, idx


class SlidingStore:
    """
    Keys and values of positions that have left the window, per batch row and layer: [B, H_kv, N, d], positions
    0..N-1 in order. Two verbs, as lucidrains' memories: add (the positions that just left) and search (what
    memory.retrieval_attention asks a store).
    """

    def __init__(self, batch, n_head, n_query_head=None):
        self.batch, self.n_head = batch, n_head
        self.group = (n_query_head or n_head) // n_head
        self.keys, self.values = {}, {}  # layer -> [B, H_kv, N, d]

    def size(self, layer):
        return 0 if layer not in self.keys else self.keys[layer].shape[2]

    def add(self, layer, keys, values):
        """Append keys, values [B, H_kv, n, d] (the next n positions) to the layer's memory."""
        if layer not in self.keys:
            self.keys[layer], self.values[layer] = keys, values
        else:
            self.keys[layer] = torch.cat([self.keys[layer], keys], dim=2)
            self.values[layer] = torch.cat([self.values[layer], values], dim=2)

    def search(self, layer, heads, queries, k, metric="query_ip"):
        """
        Each query's k stored entries of largest inner product, among its own batch row's. queries [S, d] in
        retrieval_attention's order (batch row, query head, position), heads [S] their query heads. Returns keys,
        values [S, k, d], found [S, k] (False where fewer than k are stored), distances (minus the similarity)
        and indices (stored positions; -1 where not found) [S, k], as MemoryStore.search.
        """
        if metric != "query_ip":
            raise ValueError(f"the sliding memory ranks by the query's inner product ('query_ip'), not {metric!r}")
        S, d = queries.shape
        B, N = self.batch, self.size(layer)
        rows = queries.view(B, S // B, d)                       # [B, H * n, d]
        kv = heads.view(B, S // B)[0] // self.group             # [H * n]: the KV head of each query of a row
        if N == 0:
            zeros = queries.new_zeros(S, k, d)
            return (zeros, zeros, torch.zeros(S, k, dtype=torch.bool, device=queries.device),
                    queries.new_full((S, k), float("inf")), torch.full((S, k), -1, device=queries.device))
        keys, values = self.keys[layer][:, kv], self.values[layer][:, kv]  # [B, H * n, N, d]
        sim = (keys @ rows[..., None]).squeeze(-1)              # [B, H * n, N]
        top = min(k, N)
        best, idx = sim.topk(top, dim=-1)                       # [B, H * n, top]
        pick = lambda t: t.gather(2, idx[..., None].expand(*idx.shape, d)).reshape(S, top, d)
        found_k, found_v = pick(keys), pick(values)
        found = torch.ones(S, top, dtype=torch.bool, device=queries.device)
        dist, idx = -best.reshape(S, top), idx.reshape(S, top)
        return _pad_to_k(found_k, found_v, found, dist, idx, k)


def forward_with_memory(model, ids, settings, store=None, cache=None):
    """
    Logits [B, T, vocab] of ids [B, T], read one position at a time with a KV cache: before position t is read,
    position t - W (the one that has just left its window, W = model.config.window) goes into the memory of every
    layer where settings.knn_num is on, so position t sees its last W positions in its window and every earlier
    one through the memory. store: a SlidingStore to fill (default a new one); its contents are what was read.
    cache: the KVCache to read with (default a new one).
    """
    W = model.config.window
    if not W:
        raise ValueError("forward_with_memory needs a model with a sliding window (config.window > 0)")
    B, T = ids.shape
    store = store or SlidingStore(B, model.config.n_kv_head, model.config.n_head)
    memory = Memory(store, settings)
    cache = cache or KVCache(capacity=T)
    out = []
    for t in range(T):
        if t >= W:  # position t - W leaves the window of position t
            for layer in settings.layers:
                k, v = cache.read(layer, "k", "v")
                store.add(layer, k[:, :, t - W:t - W + 1], v[:, :, t - W:t - W + 1])
        out.append(model(ids[:, t:t + 1], memory=memory, cache=cache))
    return torch.cat(out, dim=1)


class SequenceStore:
    """
    The memory of forward_parallel: the sequence's own positions, each query row t reading, among its batch row's
    positions 0 .. t - W (those that have left its window of W), its top k by inner product. The layer's keys and
    values are the ones the forward has just written into the KV cache; detached: the memory is read, not learned
    through (the queries are).
    """

    def __init__(self, cache, window, n_query_head):
        self.cache, self.window, self.n_query_head = cache, window, n_query_head

    def search(self, layer, heads, queries, k, metric="query_ip"):
        """As SlidingStore.search, for the rows of the last n positions of the T the cache holds."""
        if metric != "query_ip":
            raise ValueError(f"the sliding memory ranks by the query's inner product ('query_ip'), not {metric!r}")
        keys, values = (t.detach() for t in self.cache.read(layer, "k", "v", end=self.cache.written))
        B, H_kv, T, d = keys.shape
        H = self.n_query_head
        n = queries.shape[0] // (B * H)
        keys, values = keys.repeat_interleave(H // H_kv, 1), values.repeat_interleave(H // H_kv, 1)  # [B, H, T, d]
        sim = queries.view(B, H, n, d) @ keys.transpose(-2, -1)   # [B, H, n, T]
        t = torch.arange(T - n, T, device=keys.device)[:, None]
        left = torch.arange(T, device=keys.device)[None, :] <= t - self.window  # [n, T]: out of row t's window
        best, idx = sim.masked_fill(~left, float("-inf")).topk(min(k, T), dim=-1)  # [B, H, n, top]
        found = best > float("-inf")
        pick = lambda x: x.gather(2, idx.flatten(2)[..., None].expand(-1, -1, -1, d)).view(*idx.shape, d)
        found_k, found_v = pick(keys), pick(values)                # [B, H, n, top, d]
        S, top = B * H * n, idx.shape[-1]
        found_k, found_v = found_k.reshape(S, top, d), found_v.reshape(S, top, d)
        found, dist = found.reshape(S, top), -best.reshape(S, top)
        idx = idx.reshape(S, top).masked_fill(~found, -1)
        return _pad_to_k(found_k, found_v, found, dist, idx, k)


class _WrittenCache(KVCache):
    """A KV cache that knows how many positions its layers have written (SequenceStore reads them mid-forward)."""

    written = 0

    def write(self, layer, start, **new):
        self.written = max(self.written, start + next(iter(new.values())).shape[-2])
        return super().write(layer, start, **new)


def forward_parallel(model, ids, settings):
    """
    Logits [B, T, vocab] of ids [B, T] in one call, as forward_with_memory reads them: row t attends to its last W
    positions and, in the layers where settings.knn_num is on, to its top knn_num of positions 0 .. t - W, in one
    softmax (memory.retrieval_attention). Differentiable in everything but the memory's keys and values.
    """
    W = model.config.window
    if not W:
        raise ValueError("forward_parallel needs a model with a sliding window (config.window > 0)")
    cache = _WrittenCache(capacity=ids.shape[1])
    memory = Memory(SequenceStore(cache, W, model.config.n_head), settings)
    return model(ids, memory=memory, cache=cache)


class WindowMemoryGPT(nn.Module):
    """
    The GPT with a sliding window trained with the memory it reads (issue 17's 'window + mtm, trained'): kNN
    attention over the positions that have left the window in the last layer, `knn` of them per query, refilled
    per sequence (forward_parallel). Its weights are the GPT's (under gpt.), so forward_with_memory reads it too.
    """

    def __init__(self, knn=32, **config):
        super().__init__()
        self.gpt = GPT(GPTConfig(**config), name="mqar")
        self.config, self.knn = self.gpt.config, knn
        last = self.config.n_layer - 1
        per_layer = [knn if i == last else 0 for i in range(last + 1)]
        self.settings = MemorySettings(knn_num=per_layer, retrieval="attention", search="query_ip")

    def forward(self, ids):
        return forward_parallel(self.gpt, ids, self.settings)

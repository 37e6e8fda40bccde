"""
The window + memory path of issue 17: a model with a sliding attention window reads a sequence token by token,
and every position's keys and values go into a memory as they leave the window; memory.py's kNN attention
(retrieval='attention', no chunks) reads that memory in the layers where knn_num is on. Nothing is trained for it:
the memory is added to a model trained with the window alone (or used while training, as Memorizing
Transformers do). One memory per batch row, exact search (a per-row matmul): the sequences here are short.

    settings = MemorySettings(knn_num=[0, 32], retrieval="attention", search="query_ip")
    logits = forward_with_memory(model, ids, settings)    # ids [B, T] -> logits [B, T, vocab]
"""
import torch

from generation import KVCache
from memory import Memory


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
        if top < k:  # fewer stored than asked: pad as MemoryStore does
            pad = k - top
            found_k, found_v = (torch.cat([t, t.new_zeros(S, pad, d)], 1) for t in (found_k, found_v))
            found = torch.cat([found, found.new_zeros(S, pad)], 1)
            dist = torch.cat([dist, dist.new_full((S, pad), float("inf"))], 1)
            idx = torch.cat([idx, idx.new_full((S, pad), -1)], 1)
        return found_k, found_v, found, dist, idx


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

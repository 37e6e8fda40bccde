"""
Medium-term memory: the method (docs/METHOD.md), its hook and the paper's blend. Every model family's attention
computes its q, k, v and calls `attend`, which writes the KV cache and chooses: plain causal attention, the paper's
blend (`memory_attention`, steps 1-10: found values blended into a layer's own values) or, beyond the paper,
attention retrieval (mtm/method/retrieval.py: memory entries join the softmax; chunk retrieval first chooses which
texts to read, mtm/method/chunks.py). The settings: mtm/method/settings.py. The store they read: mtm/storage/.

    memory = open_memory(model, tokenizer, settings, texts=["Cats are lovely."])   # mtm/entry.py
    logits = model(idx, memory=memory)
"""
import math
from dataclasses import dataclass, replace

import torch

from mtm.method.attention import causal_attention, visible_positions
from mtm.method.chunks import choose_chunks
from mtm.method.retrieval import retrieval_attention
from mtm.method.settings import MemorySettings


@dataclass
class Memory:
    """What a model's forward needs to use a memory: the store, the settings, the relevance decision's inputs, an
    optional trace; and, for chunk retrieval, the prompt's choice (mtm.method.chunks.Choice, set by with_chunks)."""
    store: object  # a MemoryStore (mtm/storage/store.py), or any store with its search, gather and chunks
    settings: MemorySettings
    trace: list = None    # set to [] to record every retrieval (see explain_trace())
    mode: str = None      # 'exact' or 'cached' (see SETTINGS); None: the settings' memory_mode
    stats: dict = None    # set to {} to count, per layer, [token-heads changed, token-heads seen] (paper Fig. 4)
    rarity: object = None  # what chunk_min_overlap weighs the prompt by (relevance.rarity_for): [vocab] each token's
    # rarity (idf over real prose, relevance.token_rarity), or an NgramRarity (chunk_overlap_by = 'char_ngrams')
    hub: object = None  # chunk_hub_k > 0: the reference prompts of the hubness term (chunks.HubPrompts)
    choice: object = None  # chunk retrieval: what this prompt reads (chunks.Choice); None: not chosen yet

    def __post_init__(self):
        self.mode = self.mode or self.settings.memory_mode

    def active(self, layer):
        return self.settings.knn_num[layer] > 0

    def gather(self, layer, index):
        """Keys and values [H_kv, *index.shape, d] of stored tokens index: the store's, or, where the store keeps
        token ids only (kv='recompute'), the chosen chunks read again (recompute_rows)."""
        if self.choice is None or self.choice.recomputed is None:
            return self.store.gather(layer, index)
        rows, kv = self.choice.recomputed
        at = torch.searchsorted(rows, index.to(rows.device))
        keys, values = kv[layer]
        return keys[:, at], values[:, at]

    @property
    def recomputes(self):
        """Exact mode of the paper's blend: a new token can change the values (so the outputs) of past rows.
        Attention retrieval never does: a row's output depends on its own query, the context and the memory."""
        return self.mode == "exact" and self.settings.retrieval == "blend"


# -----------------------------------------------------------------------------
# the method, inside one memory layer (METHOD.md steps 1-10)

def select_positions(a, mem_frac, bookkeeping_frac, n=None):
    """Equation 4. a: [..., T] attention rows; n: context length of each row (default T; broadcastable
    to a[..., :1], for rows that see fewer positions). Returns a bool mask like a."""
    n = a.shape[-1] if n is None else n
    if mem_frac > 0:
        keep = a >= 1.0 / (mem_frac * n)               # step 3: enough attention from the newest token
    else:
        keep = torch.zeros_like(a, dtype=torch.bool)  # step 3, MF = 0: only position 0 can be chosen
        keep[..., 0] = True
    if bookkeeping_frac > 0:                          # step 2: drop position 0 unless it is attended above BF
        keep[..., 0] &= a[..., 0] > bookkeeping_frac
    return keep


# -----------------------------------------------------------------------------
# the one memory hook: every family's attention calls attend(), every family's block calls layer_input()

def attend(q, k, v, layer, memory=None, cache=None, start=0, q_raw=None, k_raw=None, rotate=None, window=None):
    """
    A layer's attention for its new positions start.., with the memory where it is on in this layer.
    q: [B, H, T, d], k, v: [B, H_kv, T, d] as the layer's attention uses them (rotary models: rotated);
    q_raw, k_raw: the same before the rotary embedding (what the store holds and the search compares; None: q, k);
    rotate(x [B, H_kv, M, d], positions [B, M]): x rotated to those positions (rotary models: memory laid out
    before the context); window: a sliding-window layer's width. cache: a KV cache (generation.KVCache) holding the
    positions before start; the new ones are written into it here.
    Returns y: [B, H, T', d] for the last T' >= T positions (more where exact mode recomputed earlier rows).
    """
    on = memory is not None and memory.active(layer)
    if not on or memory.settings.retrieval == "attention":  # past rows never change: keys and values suffice
        if cache is not None:
            k, v = cache.write(layer, start, k=k, v=v)
        if not on:
            return causal_attention(q, k, v, window)
        return retrieval_attention(q, k, v, memory, layer, q_raw=q_raw, rotate=rotate, window=window)
    raw = {} if q_raw is None else dict(q_raw=q_raw, k_raw=k_raw)
    if cache is not None:  # the blend reads every position's query (and pre-rotary vectors) again
        q, k, v, *rest = cache.write(layer, start, q=q, k=k, v=v, **raw)
        raw = dict(zip(raw, rest))
    return memory_attention(q, k, v, memory, layer, cache=cache, start=start, window=window, **raw)


def layer_input(x, layer, memory=None, cache=None, start=0):
    """x [B, T, C] (positions start..), or, for a memory layer in exact mode with a cache, the inputs of all
    positions so far, kept in the cache: its attention recomputes earlier rows when their selection changed,
    and their residual needs them."""
    if cache is None or memory is None or not memory.recomputes or not memory.active(layer):
        return x
    x_all, = cache.write(layer, start, x=x)
    return x_all


def with_chunks(model, idx, memory):
    """Chunk retrieval chooses its chunks once, from the prompt (choose_chunks); generation does it before the
    first step, so that the steps after it keep the same chunks."""
    if memory is None or not memory.settings.chunk_select or memory.choice is not None:
        return memory
    return replace(memory, choice=choose_chunks(model, idx, memory))


def memory_attention(q, k, v, memory, layer, q_raw=None, k_raw=None, cache=None, start=0, window=None):
    """
    Causal attention whose values are first updated from the memory, for the query rows from `start` on.
    q: [B, H, T, d] the queries of all T positions; k, v: [B, H_kv, T, d] with H_kv dividing H (grouped-query
    models: query head h reads KV head h // (H // H_kv)). q_raw [B, H, T, d], k_raw [B, H_kv, T, d]: the
    vectors compared with stored keys (search and equation 5); for rotary models the pre-rotary ones, so that
    memory is position-free. Default: q and k.
    Exact mode: the newest row selects positions, their updated values serve every row (step 10).
    Cached mode: every row selects for itself, as if it were the newest token, and uses the updated
    values for its own output only.
    cache (a generation.KVCache) and start: rows before start were computed by earlier calls, which left their
    updated values in the cache; a position's updated value depends only on its own q, k, v and the store,
    so it is computed once, when first selected. In exact mode the rows before the first position whose
    selection changed since the last call keep their outputs too, and are not recomputed.
    window: a sliding-window layer's width (Gemma's local layers): rows see only their last `window` positions,
    and select among those.
    Returns y: [B, H, T - first, d], the rows from `first` on: first = start, or less in exact mode.
    """
    B, H, T, d = q.shape
    H_kv = k.shape[1]
    group = H // H_kv
    q_raw = q if q_raw is None else q_raw
    k_raw = k if k_raw is None else k_raw
    s = memory.settings

    def attention(first):
        """Equation 1 for the rows from first on: [B, H, T - first, T], and which positions they see (None: all).
        A group's query rows are stacked so that each KV head is read as it is, never repeated; the scale and
        the mask touch the T columns only where they must (a generated token's row sees every position)."""
        n = T - first
        scores = (q[:, :, first:] / math.sqrt(d)).reshape(B, H_kv, group * n, d) @ k.transpose(-2, -1)
        scores = scores.view(B, H, n, T)
        visible = visible_positions(first, T, window, q.device)
        if visible is None:
            return scores.softmax(dim=-1), None
        return scores.masked_fill(~visible, float("-inf")).softmax(dim=-1), visible

    A, visible = attention(start)
    first = start
    cols = T if s.mem_frac > 0 else 1  # MF = 0 can select position 0 alone: the other columns need no look
    if memory.mode == "exact":  # step 1: the newest token's row chooses for every row
        seen = None if visible is None else visible[-1:, :cols].sum(1, keepdim=True)  # a window: fewer than T
        S = select_positions(A[:, :, -1:, :cols], s.mem_frac, s.bookkeeping_frac, n=seen)  # [B, H, 1, cols]
        if cache is not None:  # earlier rows' outputs change only from the first position selected differently
            before = cache.state(layer).get("selected")
            changed = (S[..., :start] != before[..., :start]).flatten(0, 2).any(0).nonzero() if start else []
            if len(changed) > 0:
                first = int(changed[0])
                A, visible = attention(first)
            cache.state(layer)["selected"] = S
    elif visible is None:  # cached mode, one row: it sees all T positions
        S = select_positions(A[..., :cols], s.mem_frac, s.bookkeeping_frac)  # [B, H, 1, cols]
    else:  # cached mode, rows start..: each selects among the positions it sees, as if it were the newest
        n_seen = visible.sum(1, keepdim=True)
        S = select_positions(A[..., :cols], s.mem_frac, s.bookkeeping_frac, n=n_seen) & visible[:, :cols]
    selected = S.any(dim=2)  # [B, H, cols]: every (b, h, t) some row selected
    b, h, t = selected.nonzero(as_tuple=True)
    if memory.stats is not None:
        seen = memory.stats.setdefault(layer, [0, 0])
        seen[0] += len(b)
        seen[1] += B * H * T
    # steps 4-9 give each selected position one new value, whichever row selected it: delta = v' - v there
    if cache is None:
        delta, done = q.new_zeros(B, H, T, d), torch.zeros(B, H, T, 1, dtype=torch.bool, device=q.device)
    else:  # positions from start on are new (or recomputed): nothing is known of their updated values yet
        delta, done = cache.write(layer, start, delta=q.new_zeros(B, H, T - start, d),
                                  done=torch.zeros(B, H, T - start, 1, dtype=torch.bool, device=q.device))
    new = ~done[b, h, t, 0]  # selected but not updated yet
    if new.any():
        bn, hn, tn = b[new], h[new], t[new]
        kv = hn // group
        delta[bn, hn, tn] = update_values(q_raw[bn, hn, tn], k_raw[bn, kv, tn], v[bn, kv, tn], hn, memory, layer,
                                          where=(bn, tn) if memory.trace is not None else None) - v[bn, kv, tn]
        done[bn, hn, tn] = True
    # step 10: y = A v' = A v + (A * S) (v' - v), which also serves rows that select differently
    n = T - first
    y = (A.view(B, H_kv, group * n, T) @ v).view(B, H, n, d)
    return y + (A[..., :cols] * S) @ delta[:, :, :cols]


def update_values(q_t, k_t, v_t, heads, memory, layer, where=None):
    """
    Steps 4-9 for S selected token-heads at once.
    q_t, k_t, v_t: [S, d] the token's own query, key and value; heads: [S] query-head index.
    Returns the new values [S, d].
    """
    s = memory.settings
    S, d = k_t.shape
    mem_k, mem_v, found, dist, idx = memory.store.search(layer, heads, k_t, s.knn_num[layer])  # [S, k, d] ...
    mem_k, mem_v = mem_k.to(k_t.dtype), mem_v.to(v_t.dtype)
    if s.resid_only:  # step 6, Type 2: stored entries only
        cand_k, cand_v, ok = mem_k, mem_v, found
    else:             # step 6, Types 1 and 3: the token's own key/value compete with the stored ones
        cand_k = torch.cat([k_t[:, None], mem_k], dim=1)
        cand_v = torch.cat([v_t[:, None], mem_v], dim=1)
        ok = torch.cat([torch.ones_like(found[:, :1]), found], dim=1)
    # equation 5: rank the candidates with the token's own query; missing neighbours get weight 0
    logits = s.knn_softmax_influence * (cand_k @ q_t[:, :, None]).squeeze(-1) / math.sqrt(d)
    logits = logits.masked_fill(~ok, float("-inf"))
    none_found = ~ok.any(dim=1, keepdim=True)  # Type 2 with an empty result: leave v_t alone, never NaN
    w = logits.masked_fill(none_found, 0.0).softmax(dim=-1)
    m = (w[:, :, None] * cand_v).sum(dim=1)  # step 8
    new_v = (1 - s.resid_frac) * m + s.resid_frac * v_t if s.resid_frac > 0 else m  # step 9
    new_v = torch.where(none_found, v_t, new_v)
    if where is not None:
        record_trace(memory, layer, where, heads, idx, dist, w, s.resid_only)
    return new_v


def record_trace(memory, layer, where, heads, idx, dist, w, resid_only):
    """One record per selected (batch, layer, head, position): what the paper shows in Tables 2 and 3."""
    b, t = where
    token_ids = memory.store.token_ids
    w_mem = w if resid_only else w[:, 1:]
    for i in range(len(heads)):
        found = idx[i] >= 0
        mem_idx = idx[i][found].tolist()
        memory.trace.append(dict(
            batch=int(b[i]), layer=layer, head=int(heads[i]), position=int(t[i]),
            memory_index=mem_idx, distance=dist[i][found].tolist(),
            memory_token=token_ids[mem_idx].tolist(), weight=w_mem[i][found].tolist(),
            own_weight=None if resid_only else float(w[i, 0])))


def explain_trace(trace, decode, prompt_ids=None):
    """The trace as text, one line per selected token-head, like the paper's Tables 2 and 3."""
    lines = []
    for r in trace:
        at = repr(decode([prompt_ids[r["position"]]])) if prompt_ids is not None else ""
        found = ", ".join(f"{decode([tok])!r} (#{i}, d={dist:.3g}, w={w:.3f})" for tok, i, dist, w in
                          zip(r["memory_token"], r["memory_index"], r["distance"], r["weight"]))
        own = "" if r["own_weight"] is None else f"  own w={r['own_weight']:.3f}"
        lines.append(f"sample {r['batch']} layer {r['layer']} head {r['head']:2d} pos {r['position']:3d} {at:>12}"
                     f"{own} <- {found}")
    return "\n".join(lines)

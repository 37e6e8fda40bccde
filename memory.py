"""
Medium-term memory: the method (docs/METHOD.md). This file is the one home of the method's math. Every model
family's attention computes its q, k, v and calls `attend`, which writes the KV cache and chooses: plain causal
attention, the paper's blend (`memory_attention`, steps 1-10: found values blended into a layer's own values) or,
beyond the paper, `retrieval_attention` (memory entries join the softmax; chunk retrieval first chooses which
texts to read, `choose_chunks`). The store they read, its index and its files: store.py (this file imports no
FAISS: it only calls the store's methods).

    store = build_store(model, tokenizer, "Cats are lovely.", layers=[6, 7, 8])     # store.py
    memory = Memory(store, MemorySettings(knn_num=[0]*6 + [5]*3 + [0]*3, ...))
    logits = model(idx, memory=memory)
"""

import math
import re
import weakref
from dataclasses import dataclass, field, make_dataclass, replace

import torch
from torch.nn import functional as F

from configurator import at_least, between, check_values, ints_at_least, nonempty_ints, number, one_of


class MemorySettingsError(ValueError):
    """A method setting out of range or in a combination that means nothing: one line for the user."""


# -----------------------------------------------------------------------------
# settings of the method, each declared once: MemorySettings, the range checks, the scripts' defaults
# (sample.py, evaluate.py) and evaluate.py's sweep keys all come from this table. A new knob is one line here.

@dataclass(frozen=True)
class Setting:
    default: object
    check: object  # value -> None (fine) or what is wrong with it; not called for None
    help: str


SETTINGS = dict(
    # the paper's method (Types 1-3): the defaults are the paper's
    knn_num=Setting([], ints_at_least(0), "k nearest neighbours per layer, one entry per layer; 0 = off there"),
    mem_frac=Setting(5.0, at_least(0), "MF, equation 4"),
    bookkeeping_frac=Setting(0.9, between(0, 1), "BF, equation 4"),
    knn_softmax_influence=Setting(1.0, at_least(0, strict=True), "TS, equation 5"),
    resid_only=Setting(False, None, "True: the token's own key/value are not candidates (Type 2)"),
    resid_frac=Setting(0.0, between(0, 1), "r: v <- (1 - r) m + r v (Types 2 and 3)"),
    memory_mode=Setting("exact", one_of("exact", "cached"), "'exact': the paper's (the newest token re-selects for "
                        "every row); 'cached': each token uses the memory for its own output only"),
    # beyond the paper (docs/METHOD.md, "Attention retrieval"); the defaults keep the paper's method exactly
    retrieval=Setting("blend", one_of("blend", "attention"), "'blend': steps 1-10, found values blended into v "
                      "(Types 1-3); 'attention': every query row's top-k memory entries join its softmax"),
    search=Setting("key_l2", one_of("key_l2", "query_ip", "query_cos"), "what finds stored entries: 'key_l2' (the "
                   "paper: the token's key, L2), 'query_ip' or 'query_cos' (the token's query: what attention ranks)"),
    mem_threshold=Setting(-1.0, between(-1, 1), "attention: entries whose cosine with the query is below this stay "
                          "out (-1: none)"),
    chunk_select=Setting(0, at_least(0), "attention: first choose this many chunks (texts, sentences or blocks) "
                         "with the model's own queries, then read only their tokens; 0 = the whole store"),
    chunk_by=Setting("text", one_of("text", "sentence", "block"), "what a chunk is"),
    chunk_size=Setting(64, at_least(1), "tokens per block (chunk_by='block')"),
    chunk_layers=Setting([], ints_at_least(0), "layers whose queries score the chunks"),
    chunk_heads=Setting(None, nonempty_ints(), "of those layers' query heads, the ones that score (None: all)"),
    chunk_min_score=Setting(None, number(), "a chosen chunk is read only if its score reaches this (None: always)"),
    chunk_min_overlap=Setting(None, number(), "a chosen chunk is read only if it holds this share of the prompt's "
                              "rare tokens (rare_overlap; needs the Memory's rarity; None: no check)"),
    chunk_overlap_by=Setting("tokens", one_of("tokens", "char_ngrams"), "what the relevance check counts: the "
                             "prompt's distinct tokens, or the character n-grams (chunk_ngram) of its lower-cased "
                             "words, blind to how a tokenizer cuts a name (at a line's start, after a space)"),
    chunk_ngram=Setting(4, at_least(1), "chunk_overlap_by='char_ngrams': n, counted on each word with its two ends "
                        "marked"),
    chunk_rarity_power=Setting(1.0, at_least(0, strict=True), "the relevance check weighs each prompt token by its "
                               "rarity to this power (> 1: the rarest tokens, names, count more)"),
    chunk_hops=Setting(1, at_least(1), "rounds of choosing: each further round chooses chunk_select more among "
                       "the rest by the rare tokens the texts read so far brought (next_hop; 2: a question whose "
                       "answer needs two facts)"),
    chunk_skip=Setting(1, at_least(0), "the prompt's first positions, alike in every prompt, score no chunk"),
    chunk_hub_k=Setting(0, at_least(0), "choose by each chunk's score minus its typical score, the mean of its "
                        "chunk_hub_k best scores over reference prompts (openings of lines of real prose, the "
                        "same for every store; chunk_typical): CSLS's hubness term, so that a long chunk, with more "
                        "chances of a high best match, is not chosen for every prompt; 0 = the raw score"),
    chunk_hub_prompts=Setting(200, at_least(1), "chunk_hub_k > 0: how many reference prompts (reading.hub_prompts)"),
    chunk_backend=Setting("torch", one_of("torch", "lancedb"), "what scores the chunks: 'torch' (exact, the "
                          "chooser's keys in RAM) or 'lancedb' (LanceDB's multivector search, embedded; a table of "
                          "the chunks in the store's directory)"),
    mem_position=Setting("query", one_of("query", "before"), "attention, rotary models: where memory keys sit: "
                         "'query' (the query's own position) or 'before' (the chosen chunks laid out before the "
                         "context)"),
    mem_sink=Setting(True, None, "'before': lay out the store's bookkeeping token(s), which every stored text was "
                     "read after (the attention sink), before the chosen chunks: the memory then reads as "
                     "bookkeeping token + chunks + prompt in the context"),
    mem_hide_start=Setting(0, at_least(0), "'before' with the sink, rotary models, rows that read memory: the "
                           "prompt's first this many positions (its own start token, which the memory's bookkeeping "
                           "token already stands for) are hidden from the later positions in the layers that read "
                           "memory, and the memory moves up as many positions, so that the prompt reads on from the "
                           "memory as from a context: Gemma's <bos> fact question, not <bos> fact <bos> question"),
)


def method_defaults():
    """{name: default} of every method setting, fresh copies: what the scripts start from."""
    return vars(MemorySettings())


def _settings_field(s):
    return field(default_factory=lambda: list(s.default)) if isinstance(s.default, list) else field(default=s.default)


class _SettingsMethods:

    @classmethod
    def of(cls, config):
        """The settings a config (a script's settings, a sweep point) names, the rest at their defaults, checked."""
        return cls(**{name: config[name] for name in SETTINGS if name in config}).check()

    @property
    def layers(self):
        """The layers that read the memory."""
        return [i for i, k in enumerate(self.knn_num) if k > 0]

    @property
    def store_layers(self):
        """The layers whose keys/values the store must hold: the reading layers and the chunk-scoring ones."""
        return sorted(set(self.layers) | (set(self.chunk_layers) if self.chunk_select else set()))

    def check(self):
        """One line for a setting out of range (MemorySettingsError); the scripts call it before loading a model."""
        check_values(vars(self), {name: setting.check for name, setting in SETTINGS.items()}, MemorySettingsError)
        if self.retrieval == "blend" and (self.chunk_select or self.mem_position != "query"):
            raise MemorySettingsError("chunk_select and mem_position apply to retrieval='attention' only")
        if self.retrieval == "attention" and self.search == "key_l2" and not self.chunk_select:
            raise MemorySettingsError("retrieval='attention' ranks memory entries by the query: set search to "
                                      "'query_ip' or 'query_cos'")
        if self.chunk_select and not self.chunk_layers:
            raise MemorySettingsError("chunk_select needs chunk_layers: the layers whose queries score the chunks")
        if self.chunk_min_overlap is not None and not self.chunk_select:
            raise MemorySettingsError("chunk_min_overlap checks chosen chunks: it needs chunk_select > 0")
        if self.chunk_backend != "torch" and not self.chunk_select:
            raise MemorySettingsError(f"chunk_backend={self.chunk_backend!r} scores chunks: it needs chunk_select > 0")
        if self.chunk_hub_k and not self.chunk_select:
            raise MemorySettingsError("chunk_hub_k corrects the chunks' scores: it needs chunk_select > 0")
        if self.chunk_hub_k > self.chunk_hub_prompts:
            raise MemorySettingsError(f"chunk_hub_k = {self.chunk_hub_k} best scores of chunk_hub_prompts = "
                                      f"{self.chunk_hub_prompts} reference prompts: give chunk_hub_k <= chunk_hub_prompts")
        if self.mem_position == "before" and not self.chunk_select:
            raise MemorySettingsError("mem_position='before' lays out chosen chunks: it needs chunk_select > 0")
        if self.mem_hide_start and (self.mem_position != "before" or not self.mem_sink):
            raise MemorySettingsError("mem_hide_start hides the prompt's start behind the memory's bookkeeping token: "
                                      "it needs mem_position='before' and mem_sink=True")
        return self

    @property
    def method_type(self):
        """The paper's name for these settings: Type 1, 2 or 3 (or the attention retrieval)."""
        if self.retrieval == "attention":
            return f"attention retrieval ({self.chunk_select} chunks)" if self.chunk_select else "kNN attention"
        if self.resid_only:
            return "Type 2" if self.resid_frac > 0 else "Type 2 (r=0: memory values only)"
        return "Type 3" if self.resid_frac > 0 else "Type 1"


MemorySettings = make_dataclass("MemorySettings", [(name, object, _settings_field(s)) for name, s in SETTINGS.items()],
                                bases=(_SettingsMethods,))
MemorySettings.__doc__ = "The method's settings: one field per entry of SETTINGS, in its order."


@dataclass
class Memory:
    """What a model's forward needs to use a memory: the store, the settings, an optional trace."""
    store: "MemoryStore"
    settings: MemorySettings
    trace: list = None    # set to [] to record every retrieval (see explain_trace())
    mode: str = None      # 'exact' or 'cached' (see SETTINGS); None: the settings' memory_mode
    stats: dict = None    # set to {} to count, per layer, [token-heads changed, token-heads seen] (paper Fig. 4)
    chosen: object = None  # chunk retrieval: the chunks each batch row reads, [B, chunk_select x chunk_hops]

    entries: object = None  # chunk retrieval: which stored tokens each row reads (index, position, valid: [B, M])
    scores: object = None   # chunk retrieval: the chosen chunks' scores [B, c x hops] (later rounds: the bridge share)
    read: object = None     # chunk retrieval: which chosen chunks pass the gate and the relevance check [B, c x hops]
    chunk_cache: dict = None  # chunk retrieval: per layer, the chosen chunks' keys and values gathered (and rotated)
    recomputed: tuple = None  # a kv='recompute' store: the chosen rows [U] and their {layer: keys, values [H_kv, U, d]}
    rarity: object = None  # what chunk_min_overlap weighs the prompt by (reading.rarity_for): [vocab] each token's
    # rarity (idf over real prose, reading.token_rarity), or an NgramRarity (chunk_overlap_by = 'char_ngrams')
    hub: object = None  # chunk_hub_k > 0: the reference prompts of the hubness term (HubPrompts; reading.hub_prompts)

    def __post_init__(self):
        self.mode = self.mode or self.settings.memory_mode

    def active(self, layer):
        return self.settings.knn_num[layer] > 0

    def gather(self, layer, index):
        """Keys and values [H_kv, *index.shape, d] of stored tokens index: the store's, or, where the store keeps
        token ids only (kv='recompute'), the chosen chunks read again (recompute_rows)."""
        if self.recomputed is None:
            return self.store.gather(layer, index)
        rows, kv = self.recomputed
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


def visible_positions(first, T, window=None, device=None):
    """Which of T positions the rows first..T-1 see, [T - first, T] bool: causal, and with a sliding window only
    the last `window` (row i sees j when i - window < j <= i, as transformers' sliding_window_overlay).
    None where every row sees all T (one newest row, no window cutting it): no mask needed."""
    if T - first == 1 and (window is None or T <= window):
        return None
    rows, cols = torch.arange(first, T, device=device)[:, None], torch.arange(T, device=device)[None, :]
    return (cols <= rows) & (rows - cols < window) if window is not None else cols <= rows


def causal_attention(q, k, v, window=None):
    """scaled_dot_product_attention for the last Tq of T positions (Tq = T: a prompt; Tq = 1: a new token);
    window: a sliding-window layer's width (each row sees its last `window` positions)."""
    Tq, T = q.shape[2], k.shape[2]
    if window is None and (Tq == T or Tq == 1):
        return F.scaled_dot_product_attention(q, k, v, is_causal=Tq > 1, enable_gqa=True)
    mask = visible_positions(T - Tq, T, window, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)


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
    if memory is None or not memory.settings.chunk_select or memory.chosen is not None:
        return memory
    return choose_chunks(model, idx, memory)


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


# -----------------------------------------------------------------------------
# attention retrieval (beyond the paper; docs/METHOD.md): memory entries join the softmax of every query row

def retrieval_attention(q, k, v, memory, layer, q_raw=None, rotate=None, window=None):
    """
    Causal attention of the new query rows over the context and, in the same softmax, memory entries.
    q: [B, H, n, d] the queries of the last n positions; k, v: [B, H_kv, T, d] the context, T >= n (grouped-query
    models: query head h reads KV head h // (H // H_kv)). q_raw: [B, H, n, d] the pre-rotary queries of rotary
    models (default q), compared with the stored, pre-rotary keys. rotate(x [B, H_kv, M, d], positions [B, M]):
    x rotated to those positions (rotary models; used by mem_position='before'); None: keys are used as stored.
    Memory entries of a row: the tokens of its chosen chunks (memory.entries, from choose_chunks), of which each
    query keeps its top knn_num[layer]; without chunks, the store's top-k for each query (store.search).
    window: a sliding-window layer's width; it limits the context only: memory entries have no position in it.
    Returns y: [B, H, n, d].
    """
    B, H, n, d = q.shape
    H_kv, T = k.shape[1], k.shape[2]
    group = H // H_kv
    s = memory.settings
    q_raw = q if q_raw is None else q_raw
    scale = 1.0 / math.sqrt(d)
    grouped = lambda x: x.reshape(B, H_kv, group * n, x.shape[-1])  # [B, H, n, .] -> per KV head, rows stacked
    ctx = (grouped(q) * scale @ k.transpose(-2, -1)).view(B, H, n, T)
    visible = visible_positions(T - n, T, window, q.device)
    if visible is not None:
        ctx = ctx.masked_fill(~visible, float("-inf"))
    if s.chunk_select:  # the chosen chunks' tokens, shared by every query of a row: [B, H_kv, M, d]
        index, position, valid = memory.entries
        if s.mem_hide_start:  # rows that read memory: the memory's sink stands for the prompt's own start, which
            # the later positions no longer see (the hidden positions still see themselves: no row is left empty)
            cols, rows = torch.arange(T, device=q.device), torch.arange(T - n, T, device=q.device)
            hidden = (cols[None, :] < s.mem_hide_start) & (rows[:, None] >= s.mem_hide_start)  # [n, T]
            ctx = ctx.masked_fill(valid.any(dim=1)[:, None, None, None] & hidden, float("-inf"))
        sink = index <= -2  # [B, M] the bookkeeping token(s) laid out before the chunks (mem_sink)
        before = s.mem_position == "before" and rotate is not None  # the chunks sit just before the context
        if memory.chunk_cache is not None and layer in memory.chunk_cache:  # the same at every generated token
            mem_k, mem_v, mem_k_rot = memory.chunk_cache[layer]
        else:
            mem_k, mem_v = memory.gather(layer, index.clamp(min=0))  # [H_kv, B, M, d]: the rows read alone
            mem_k, mem_v = mem_k.permute(1, 0, 2, 3).to(q.dtype), mem_v.permute(1, 0, 2, 3).to(v.dtype)
            if sink.any():  # entry -2 - j: the store's bookkeeping token j (chunk_layout)
                at, where = (-2 - index).clamp(min=0), sink[:, None, :, None]
                sink_k, sink_v = memory.store.sink_keys[layer][:, at], memory.store.sink_values[layer][:, at]
                mem_k = torch.where(where, sink_k.permute(1, 0, 2, 3).to(q.dtype), mem_k)
                mem_v = torch.where(where, sink_v.permute(1, 0, 2, 3).to(v.dtype), mem_v)
            mem_k_rot = rotate(mem_k, position) if before else None
            if memory.chunk_cache is not None:
                memory.chunk_cache[layer] = mem_k, mem_v, mem_k_rot
        knn, M = s.knn_num[layer], mem_k.shape[2]
        ranked, thresholded = knn < M, s.mem_threshold > -1
        if not before or ranked or thresholded:  # pre-rotary query . pre-rotary key: [B, H, n, M]
            sim = (grouped(q_raw) @ mem_k.transpose(-2, -1)).view(B, H, n, M)
        if before:
            logits = (grouped(q) @ mem_k_rot.transpose(-2, -1)).view(B, H, n, M) * scale
        else:  # at the query's own position: the rotation cancels
            logits = sim * scale
        keep = valid[:, None, None, :].expand(B, H, n, M)
        if (ranked and s.search == "query_cos") or thresholded:
            cos = sim / (q_raw.norm(dim=-1, keepdim=True) * mem_k.norm(dim=-1).repeat_interleave(group, 1)[:, :, None]
                         ).clamp(min=1e-12)
        if ranked:  # each query keeps its top-k of the chunks' tokens
            rank = cos if s.search == "query_cos" else sim
            top = rank.masked_fill(~keep | sink[:, None, None, :], float("-inf")).topk(knn, dim=-1).indices
            keep = keep & torch.zeros(B, H, n, M, dtype=torch.bool, device=q.device).scatter_(-1, top, True)
        if thresholded:  # then those too far from the query stay out
            keep = keep & (cos >= s.mem_threshold)
        keep = keep | sink[:, None, None, :]  # the sink is always read, as the context's first token always is
    else:  # each query's own top-k of the whole store
        heads = torch.arange(H, device=q.device)[None, :, None].expand(B, H, n).reshape(-1)
        rows = q_raw.reshape(-1, d)
        mem_k, mem_v, found, dist, _ = memory.store.search(layer, heads, rows, s.knn_num[layer], metric=s.search)
        mem_k, mem_v = mem_k.view(B, H, n, -1, d).to(q.dtype), mem_v.view(B, H, n, -1, d).to(v.dtype)
        sim = (mem_k @ q_raw[..., None]).squeeze(-1)  # [B, H, n, k]
        logits = sim * scale
        keep = found.view(B, H, n, -1)
        if s.mem_threshold > -1:
            cos = sim / (q_raw.norm(dim=-1, keepdim=True) * mem_k.norm(dim=-1)).clamp(min=1e-12)
            keep = keep & (cos >= s.mem_threshold)
    logits = logits.masked_fill(~keep, float("-inf"))
    if memory.stats is not None:
        seen = memory.stats.setdefault(layer, [0, 0])
        seen[0] += int(keep.any(dim=-1).sum())
        seen[1] += B * H * n
    p = torch.cat([ctx, logits], dim=-1).softmax(dim=-1)  # one softmax over context and memory
    p_ctx, p_mem = p[..., :T], p[..., T:]
    y = (grouped(p_ctx) @ v).view(B, H, n, d)
    if s.chunk_select:
        return y + (grouped(p_mem) @ mem_v).view(B, H, n, d)
    return y + (p_mem[..., None] * mem_v).sum(dim=-2)


@torch.no_grad()
def choose_chunks(model, idx, memory):
    """
    Stage 1 of chunk retrieval: the model without memory reads the prompt idx [B, T]; in each of chunk_layers,
    every query (pre-rotary) of positions chunk_skip.. (by default 1..: position 0 is the same whatever is
    asked) of the chunk_heads (default all) is compared with every stored key of its KV head: a chunk's score is
    the best match among its tokens, averaged over the queries, heads and layers. Each row takes its
    chunk_select best chunks, then (chunk_hops > 1) more in further rounds (next_hop).
    Returns a copy of memory with `chosen` [B, c] and `entries` (what retrieval_attention reads).
    """
    s, store = memory.settings, memory.store
    _, starts, lengths = store.chunks(s.chunk_by, s.chunk_size)
    rows, inverse = torch.unique(idx, dim=0, return_inverse=True)  # seeds share their prompt: score it once
    score = chunk_score(model, rows, memory)  # [R, C]
    if s.chunk_hub_k:
        score = score - chunk_typical(model, memory)
    best, top = score.topk(min(s.chunk_select, len(starts)), dim=-1)  # [R, c], best first
    read = passes_check(memory, rows[:, s.chunk_skip:], best, top, starts, lengths)
    hops = [(best, top, read)]
    for _ in range(s.chunk_hops - 1):
        chosen, ok = torch.cat([h[1] for h in hops], 1), torch.cat([h[2] for h in hops], 1)
        if chosen.shape[1] >= len(starts):
            break
        hops.append(next_hop(rows, memory, chosen, ok, starts, lengths))
    # the latest hop nearest the prompt: the texts are laid out in the order they were found, as a context would be
    best, top, read = (torch.cat([h[i] for h in hops[::-1]], 1) for i in range(3))
    sink = store.sink_length if s.mem_sink and s.mem_position == "before" else 0
    entries = chunk_layout(top[inverse], starts, lengths, idx.device, read[inverse], sink, s.mem_hide_start)
    recomputed = recompute_rows(model, store, entries[0], s.layers) if store.recomputes else None
    return replace(memory, chosen=top[inverse], scores=best[inverse], read=read[inverse], chunk_cache={},
                   entries=entries, recomputed=recomputed)


def chunk_score(model, rows, memory, queries=None):
    """Every chunk's score for each prompt of rows [R, T]: the best match among its tokens, averaged over the
    chooser's queries, heads and layers (queries: chooser_queries' output for rows, if already at hand). [R, C]."""
    s, store = memory.settings, memory.store
    score, terms = 0, 0
    for layer, kv, q in queries if queries is not None else chooser_queries(model, rows, s, store.meta["n_head"]):
        score = score + store.chunk_scores(layer, kv, q, s.chunk_by, s.chunk_size, s.chunk_backend)
        terms += q.shape[1]
    return score / terms


@dataclass
class HubPrompts:
    """The reference prompts of the chooser's hubness term (chunk_hub_k > 0; reading.hub_prompts): token ids of
    openings of lines of real prose (the same for every store), and, per model and chooser, their queries (read once: a store's
    typical scores then cost one comparison of those queries with the store's keys)."""
    prompts: list = field(repr=False)  # [P] lists of token ids
    _queries: object = field(default_factory=weakref.WeakKeyDictionary, repr=False)  # model -> {chooser: [P] lists}

    def __post_init__(self):
        self.key = tuple(tuple(p) for p in self.prompts)  # what names them in a store's cache (chunk_typical)

    def queries(self, model, s, n_kv_head):
        chooser = (tuple(s.chunk_layers), s.chunk_heads and tuple(s.chunk_heads), s.chunk_skip)
        mine = self._queries.setdefault(model, {})
        if chooser not in mine:
            device = next(model.parameters()).device
            mine[chooser] = [list(chooser_queries(model, torch.tensor([p], device=device), s, n_kv_head))
                             for p in self.prompts]
        return mine[chooser]


def chunk_typical(model, memory):
    """
    Each chunk's typical score [C] (chunk_hub_k > 0): the mean of its chunk_hub_k best chooser scores (chunk_score,
    exact: the torch backend) over the reference prompts memory.hub (HubPrompts), openings of lines of real prose,
    the same for every store (a dev store may hold those lines: test stores do not). CSLS's hubness term (Conneau et al. 2018): a chunk that matches every prompt well, as a long one
    does with its many chances of a high best match, has a high typical score, and choose_chunks subtracts it.
    Computed once per store and chooser (MemoryStore.derived), again after an append; a forgotten chunk's is 0 (it
    is never chosen).
    """
    s, store, hub = memory.settings, memory.store, memory.hub
    if hub is None:
        raise MemorySettingsError("chunk_hub_k scores each chunk against reference prompts: build the Memory with "
                                  "hub=reading.hub_prompts(settings, tokenizer)")
    if s.chunk_hub_k > len(hub.prompts):
        raise MemorySettingsError(f"chunk_hub_k = {s.chunk_hub_k} best scores over {len(hub.prompts)} reference "
                                  "prompts: give chunk_hub_k <= chunk_hub_prompts")
    exact = Memory(store, replace(s, chunk_backend="torch"))

    def make():
        queries = hub.queries(model, s, store.meta["n_head"])
        scores = torch.cat([chunk_score(model, None, exact, q) for q in queries])  # [P, C]
        typical = scores.topk(s.chunk_hub_k, dim=0).values.mean(0)
        return torch.where(typical.isfinite(), typical, torch.zeros_like(typical))
    chooser = (s.chunk_by, s.chunk_size, tuple(s.chunk_layers), s.chunk_heads and tuple(s.chunk_heads), s.chunk_skip,
               s.chunk_hub_k, hub.key)
    return store.derived(("typical", chooser), make)


def passes_check(memory, prompts, best, top, starts, lengths):
    """Which chosen chunks top [R, c] (scores best) are read: the gate (chunk_min_score) and the relevance check
    (chunk_min_overlap) against prompts [R, P], the tokens whose rarity they must hold. Returns [R, c] bool."""
    s = memory.settings
    read = best >= s.chunk_min_score if s.chunk_min_score is not None else best > float("-inf")
    if s.chunk_min_overlap is not None:
        if memory.rarity is None:
            raise MemorySettingsError("chunk_min_overlap weighs the prompt's tokens by their rarity: build the Memory "
                                      "with rarity=reading.rarity_for(settings, tokenizer, model)")
        overlap = rare_overlap(prompts, top, memory.store.token_ids, starts, lengths, memory.rarity,
                               s.chunk_rarity_power)
        read &= overlap >= s.chunk_min_overlap
    return read


def next_hop(rows, memory, chosen, read, starts, lengths):
    """A further round of choosing (chunk_hops > 1), one prompt at a time. The texts read so far (chosen [R, n]
    where read) bring the *bridge*: their tokens absent from the prompt (for a two-hop question, the town). Each
    chunk not yet chosen is scored by rare_overlap against the bridge, every token weighed by its rarity among
    the store's own chunks (store_rarity), to the power chunk_rarity_power: the words every first fact shares
    weigh little, a token few texts hold (the town) much more. The chunk_select best are read if they reach
    chunk_min_overlap (None: if above 0). A row whose texts bring nothing new (or that read nothing) reads nothing
    more. Returns best, top, read [R, c]."""
    s, ids = memory.settings, memory.store.token_ids.cpu()
    k = min(s.chunk_select, len(starts) - chosen.shape[1])
    rarity, dead = store_rarity(ids, starts, lengths), memory.store.forgotten_tokens()
    dead = None if dead is None else dead.cpu()
    out = []
    for r, row in enumerate(rows.cpu()):
        texts = [ids[starts[c]:starts[c] + lengths[c]] for c, ok in zip(chosen[r].tolist(), read[r].tolist()) if ok]
        found = torch.cat(texts) if texts else row[:0]
        bridge = found[~torch.isin(found, row[s.chunk_skip:])][None]
        score = rare_overlap(bridge, torch.arange(len(starts))[None], ids, starts, lengths, rarity,
                             s.chunk_rarity_power)  # [1, C]; all 0 for an empty bridge
        score[0, chosen[r].cpu()] = float("-inf")
        if dead is not None:  # a forgotten text's chunks are never chosen
            score[0, dead[starts]] = float("-inf")
        best, top = score.topk(k, dim=-1)
        ok = (best >= s.chunk_min_overlap) if s.chunk_min_overlap is not None else best > 0
        out.append((best, top, ok & (bridge.numel() > 0)))  # nothing read so far, or nothing new: nothing more
    return tuple(torch.cat(t) for t in zip(*out))  # on the CPU, as the first round's


def store_rarity(token_ids, starts, lengths):
    """Each token's rarity among the store's chunks (starts, lengths [C] into token_ids [N]): its inverse document
    frequency ln((C + 1) / (df + 0.5)), df the chunks it occurs in; [max id + 1]."""
    chunk = torch.repeat_interleave(torch.arange(len(lengths)), torch.as_tensor(lengths))
    at = torch.cat([torch.arange(a, a + n) for a, n in zip(starts, lengths)])
    vocab = int(token_ids.max()) + 1
    pairs = torch.unique(chunk * vocab + token_ids[at].long())
    df = torch.bincount(pairs % vocab, minlength=vocab).float()
    return torch.log((len(lengths) + 1) / (df + 0.5))


def char_ngrams(text, n):
    """The relevance check's units with chunk_overlap_by='char_ngrams': the distinct character n-grams of each
    lower-cased word (a run of letters, digits or '_') with its ends marked, '<' + word + '>' (a shorter marked
    word: itself). 'Tamsin' at a line's start and ' Tamsin' after a space, two tokens apart, give the same."""
    out = set()
    for word in re.findall(r"\w+", text.lower()):
        marked = f"<{word}>"
        out.update(marked[i:i + n] for i in range(max(1, len(marked) - n + 1)))
    return out


@dataclass
class NgramRarity:
    """What chunk_overlap_by='char_ngrams' weighs by (reading.ngram_rarity): each n-gram's inverse document
    frequency over real prose (`unseen` for one the prose never has), and the tokenizer's decode, which turns
    token ids back into the words the n-grams are counted on."""
    idf: dict = field(repr=False)
    unseen: float
    n: int
    decode: object = field(repr=False)
    _seen: dict = field(default_factory=dict, repr=False)  # a chunk's token ids -> its n-grams (chosen again often)

    def units(self, ids):
        return char_ngrams(self.decode([int(t) for t in ids]), self.n)

    def chunk_units(self, token_ids, start, length):
        ids = tuple(token_ids[start:start + length].tolist())
        if ids not in self._seen:
            self._seen[ids] = self.units(ids)
        return self._seen[ids]

    def weight(self, gram, power):
        return self.idf.get(gram, self.unseen) ** power


def rare_overlap(prompts, chunks, token_ids, starts, lengths, rarity, power=1.0):
    """
    The relevance check of chunk retrieval (docs/METHOD.md, "The relevance decision"): for each prompt of prompts
    [R, T] and each of its chosen chunks [R, c], the share of the prompt's rarity found in the chunk:
    sum of rarity[t] ** power over the prompt's distinct tokens t that occur in the chunk / the same over all of
    them. A question about the stored entity shares its rare tokens (the name, the unusual words); a question about
    a similar entity lacks the name's; a paraphrase keeps the name but brings words of its own, which a power > 1
    weighs less against the name. token_ids [N]: the store's tokens; starts, lengths [C]: the chunks. Returns [R, c].
    rarity: [vocab] per token, or an NgramRarity: the same share over the prompt's and the chunk's words' n-grams.
    """
    if isinstance(rarity, NgramRarity):
        out = torch.zeros(chunks.shape, dtype=torch.float32)
        for r, prompt in enumerate(prompts.tolist()):
            mine = {g: rarity.weight(g, power) for g in rarity.units(prompt)}
            total = max(sum(mine.values()), 1e-12)
            for j, c in enumerate(chunks[r].tolist()):
                held = rarity.chunk_units(token_ids, starts[c], lengths[c])
                out[r, j] = sum(w for g, w in mine.items() if g in held) / total
        return out
    rarity = rarity.float().cpu() ** power
    out = torch.zeros(chunks.shape, dtype=torch.float32)
    for r, prompt in enumerate(prompts.cpu()):
        mine = prompt.unique()                                    # [P] distinct tokens of the prompt
        weight = rarity[mine]
        for j, c in enumerate(chunks[r].tolist()):
            held = torch.isin(mine, token_ids[starts[c]:starts[c] + lengths[c]].cpu())
            out[r, j] = weight[held].sum() / weight.sum().clamp_min(1e-12)
    return out


def chooser_queries(model, rows, s, n_kv_head):
    """
    The queries the chooser scores chunks with: the model without memory reads rows [R, T]; for each of
    s.chunk_layers and each KV head, the queries (pre-rotary) of positions s.chunk_skip.. of those of s.chunk_heads
    (default all) that read that KV head, scaled by 1 / sqrt(d) as attention scales them. Yields (layer, kv,
    queries [R, Q, d]), Q = heads x positions.
    """
    capture = {layer: None for layer in s.chunk_layers}
    model(rows, capture=capture)
    for layer in s.chunk_layers:
        q = capture[layer][0].float().cpu()  # [R, H, T, d]
        q = q[:, :, s.chunk_skip:] if q.shape[2] > s.chunk_skip else q
        group, d = q.shape[1] // n_kv_head, q.shape[-1]
        heads = range(q.shape[1]) if s.chunk_heads is None else s.chunk_heads
        for kv in range(n_kv_head):
            mine = [h for h in heads if h // group == kv]
            if mine:
                yield layer, kv, q[:, mine].reshape(len(rows), -1, d) / math.sqrt(d)


def recompute_rows(model, store, index, layers):
    """A kv='recompute' store keeps no keys and values to read: the model reads the windows that hold the stored
    tokens index [B, M] (>= 0; the rest is ignored) again, as reading.py first read them, and keeps their keys and
    values in `layers`. Returns (rows [U], {layer: (keys, values) [H_kv, U, d]}), rows sorted: Memory.gather."""
    rows = index[index >= 0].unique().cpu()
    if len(rows) == 0:
        rows = torch.zeros(1, dtype=torch.long)
    ids, window, column = store.windows(rows)
    capture = {layer: None for layer in layers}
    model(ids.to(index.device), capture=capture)
    kv = {layer: tuple(t[window.to(t.device), :, column.to(t.device)].transpose(0, 1)  # [H_kv, U, d]
                       for t in capture[layer][1:]) for layer in layers}
    return rows.to(index.device), kv


def chunk_layout(chosen, starts, lengths, device, read=None, sink=0, hide=0):
    """The chosen chunks laid out before the context, the best one nearest to it: for each row the stored token
    indices, their positions (the last memory token at hide - 1: just before the context's position 0, or, where the
    prompt's first `hide` positions are hidden (mem_hide_start), in the place of the last hidden one) and a validity
    mask, each [B, M] (rows padded to the longest, index -1). read [B, c]: which chosen chunks are read. sink: the
    number of bookkeeping tokens laid out first, index -2 - j for token j, in rows that read any."""
    rows = []
    read = torch.ones_like(chosen, dtype=torch.bool) if read is None else read
    for chunks, ok in zip(chosen.tolist(), read.tolist()):
        first = -2 - torch.arange(sink) if any(ok) else torch.zeros(0, dtype=torch.long)
        rows.append(torch.cat([first] + [torch.arange(starts[c], starts[c] + lengths[c])
                                         for c, r in zip(chunks[::-1], ok[::-1]) if r]))
    M = max(len(r) for r in rows)
    index = torch.full((len(rows), M), -1, dtype=torch.long)
    position = torch.zeros(len(rows), M, dtype=torch.long)
    for b, r in enumerate(rows):
        index[b, :len(r)] = r
        position[b, :len(r)] = torch.arange(len(r)) - len(r) + hide
    return index.to(device), position.to(device), (index != -1).to(device)



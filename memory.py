"""
Medium-term memory (see ../shared/docs/METHOD.md, reproduced in README.md).

A persistent store of attention keys and values, captured per (layer, KV head)
while the unmodified model reads some memory text, and the retrieval that
blends stored values into a layer's own values at inference (steps 1-10 of the
method). This file is the one home of the method's math: every model's
attention calls `memory_attention`.

    store = build_store(model, tokenizer, "Cats are lovely.", layers=[6, 7, 8])
    memory = Memory(store, MemorySettings(knn_num=[0]*6 + [5]*3 + [0]*3, ...))
    logits = model(idx, memory=memory)
"""

import hashlib
import json
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class MemoryStoreError(ValueError):
    """A memory store that is missing, corrupted or does not fit the model: one line for the user."""


# -----------------------------------------------------------------------------
# settings of the method

@dataclass
class MemorySettings:
    knn_num: list                       # k nearest neighbours per layer; 0 = method off in that layer
    mem_frac: float = 5.0               # MF, equation 4
    bookkeeping_frac: float = 0.9       # BF, equation 4
    knn_softmax_influence: float = 1.0  # TS, equation 5
    resid_only: bool = False            # True: the token's own key/value are not candidates (Type 2)
    resid_frac: float = 0.0             # r: v <- (1 - r) m + r v

    @property
    def layers(self):
        return [i for i, k in enumerate(self.knn_num) if k > 0]

    @property
    def method_type(self):
        """The paper's name for these settings: Type 1, 2 or 3."""
        if self.resid_only:
            return "Type 2" if self.resid_frac > 0 else "Type 2 (r=0: memory values only)"
        return "Type 3" if self.resid_frac > 0 else "Type 1"


@dataclass
class Memory:
    """What a model's forward needs to use a memory: the store, the settings, an optional trace."""
    store: "MemoryStore"
    settings: MemorySettings
    trace: list = None    # set to [] to record every retrieval (see explain_trace())
    mode: str = "exact"   # 'exact': the paper's; 'cached': each token uses the memory for its own output only
    stats: dict = None    # set to {} to count, per layer, [token-heads changed, token-heads seen] (paper Fig. 4)

    def active(self, layer):
        return self.settings.knn_num[layer] > 0


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


def memory_attention(q, k, v, memory, layer, q_raw=None, k_raw=None, cache=None, start=0):
    """
    Causal attention whose values are first updated from the memory, for the query rows from `start` on.
    q: [B, H, T, d] the queries of all T positions; k, v: [B, H_kv, T, d] with H_kv dividing H (grouped-query
    models: query head h reads KV head h // (H // H_kv)). q_raw [B, H, T, d], k_raw [B, H_kv, T, d]: the
    vectors compared with stored keys (search and equation 5); for rotary models the pre-rotary ones, so that
    memory is position-free. Default: q and k.
    Exact mode: the newest row selects positions, their updated values serve every row (step 10).
    Cached mode: every row selects for itself, as if it were the newest token, and uses the updated
    values for its own output only.
    cache (a model.KVCache) and start: rows before start were computed by earlier calls, which left their
    updated values in the cache; a position's updated value depends only on its own q, k, v and the store,
    so it is computed once, when first selected. In exact mode the rows before the first position whose
    selection changed since the last call keep their outputs too, and are not recomputed.
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
        if n == 1:
            return scores.softmax(dim=-1), None
        visible = torch.arange(T, device=q.device)[None, :] <= torch.arange(first, T, device=q.device)[:, None]
        return scores.masked_fill(~visible, float("-inf")).softmax(dim=-1), visible

    A, visible = attention(start)
    first = start
    cols = T if s.mem_frac > 0 else 1  # MF = 0 can select position 0 alone: the other columns need no look
    if memory.mode == "exact":  # step 1: the newest token's row chooses for every row
        S = select_positions(A[:, :, -1:, :cols], s.mem_frac, s.bookkeeping_frac)  # [B, H, 1, cols]
        if cache is not None:  # earlier rows' outputs change only from the first position selected differently
            before = cache.layers[layer].get("selected")
            changed = (S[..., :start] != before[..., :start]).flatten(0, 2).any(0).nonzero() if start else []
            if len(changed) > 0:
                first = int(changed[0])
                A, visible = attention(first)
            cache.layers[layer]["selected"] = S
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
# the store: keys, values and token ids per layer and KV head, with a k-NN index each

TORCH_SEARCH_MAX = 65536  # exact search as one batched matmul up to this many tokens per head; FAISS beyond


class MemoryStore:
    def __init__(self, meta, keys, values, token_ids):
        self.meta = meta            # JSON-able description, see build_store()
        self.keys = keys            # {layer: [n_head, N, head_dim] float32}
        self.values = values        # {layer: [n_head, N, head_dim] float32}
        self.token_ids = token_ids  # [N] int64, the memory token at each stored position
        self._index = {}            # (layer, head) -> FAISS index, built on first search

    def __len__(self):
        return len(self.token_ids)

    @property
    def layers(self):
        return sorted(self.keys)

    def to(self, device):
        """Keys and values on the device the model runs on (the exact torch search runs there too)."""
        self.keys = {layer: t.to(device) for layer, t in self.keys.items()}
        self.values = {layer: t.to(device) for layer, t in self.values.items()}
        return self

    def index(self, layer, head):
        """The FAISS index of one (layer, KV head): the manifest's `index` ('flat', 'hnsw' or 'ivf')."""
        if (layer, head) not in self._index:
            keys = self.keys[layer][head].float().cpu().numpy()
            kind, d = self.meta.get("index", "flat"), self.meta["head_dim"]
            if kind == "hnsw":  # graph search: approximate, cost ~ log N; on 1M layer-0 keys it found only ~92 %
                # of the true 5 nearest at efSearch 64-128 (docs/performance.md), IVF 96 %
                index = faiss.IndexHNSWFlat(d, 32)
                index.hnsw.efConstruction, index.hnsw.efSearch = 64, 64
            elif kind == "ivf":  # inverted lists: approximate, scans nprobe of nlist clusters
                # sqrt(N) lists, trained on 64 keys a list: 1M keys build in seconds a head (4 sqrt(N) lists
                # trained on every key took over a minute); nprobe 64 finds >= 95 % of the true 5 nearest there.
                # The lists hold the keys in float16: a search reads half the bytes (it is bound by memory
                # bandwidth), twice as fast, and finds the same neighbours (the keys themselves come from the store)
                nlist = max(1, min(len(keys) // 39, int(math.sqrt(len(keys)))))
                index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatL2(d), d, nlist, faiss.ScalarQuantizer.QT_fp16)
                sample = np.random.default_rng(0).choice(len(keys), min(len(keys), 64 * nlist), replace=False)
                index.train(keys[np.sort(sample)])
                index.nprobe = min(nlist, 64)
            else:  # exact squared Euclidean distance, as the paper
                index = faiss.IndexFlatL2(d)
            index.add(keys)
            self._index[layer, head] = index
        return self._index[layer, head]

    def search(self, layer, heads, queries, k):
        """
        k nearest stored keys for each query. heads: [S] query-head indices (grouped-query models
        share one store per KV head); queries: [S, d]. Returns keys [S, k, d], values [S, k, d],
        found [S, k] bool (False where the store has fewer than k entries), distances [S, k], indices [S, k].
        """
        group = self.meta.get("n_query_head", self.meta["n_head"]) // self.meta["n_head"]
        kv = heads // group
        if self.meta.get("index", "flat") == "flat" and len(self) <= TORCH_SEARCH_MAX:
            dist, idx = self.torch_search(layer, kv, queries.float(), k)
        else:
            dist, idx = self.faiss_search(layer, kv, queries, k)
        found = idx >= 0
        keys, values = self.keys[layer], self.values[layer]
        kv_idx, safe = kv.to(keys.device)[:, None], idx.clamp(min=0).to(keys.device)
        dev = queries.device
        return (keys[kv_idx, safe].to(dev), values[kv_idx, safe].to(dev), found.to(dev),
                dist.masked_fill(~found, float("inf")), idx)

    def torch_search(self, layer, kv, queries, k):
        """Exact search for all queries at once: queries grouped by KV head into a padded batch, one matmul."""
        keys = self.keys[layer]  # [H_kv, N, d]
        H_kv, N, d = keys.shape
        S = len(kv)
        kv = kv.to(keys.device)
        counts = torch.bincount(kv, minlength=H_kv)
        order = torch.argsort(kv, stable=True)
        slot = torch.arange(S, device=keys.device) - (torch.cumsum(counts, 0) - counts)[kv[order]]
        padded = queries.new_zeros(H_kv, int(counts.max()), d).to(keys.device)
        padded[kv[order], slot] = queries[order].to(keys.device)
        dist = ((padded ** 2).sum(-1, keepdim=True) - 2 * padded @ keys.transpose(1, 2)
                + (keys ** 2).sum(-1)[:, None, :]).clamp(min=0)  # [H_kv, S_max, N]
        top_i = torch.topk(dist, min(k, N), dim=-1, largest=False).indices[kv[order], slot]  # [S, k] sorted
        # the winners' distances again, directly: the expansion above loses precision near 0
        top_d = ((keys[kv[order][:, None], top_i] - padded[kv[order], slot][:, None]) ** 2).sum(-1)
        out_d = torch.full((S, k), float("inf"), device=keys.device)
        out_i = torch.full((S, k), -1, dtype=torch.long, device=keys.device)
        out_d[order, :top_i.shape[-1]] = top_d
        out_i[order, :top_i.shape[-1]] = top_i
        return out_d, out_i

    def faiss_search(self, layer, kv, queries, k):
        """FAISS, one batched search per KV head. A generated token's few queries are searched on one thread:
        FAISS's OpenMP threads and torch's (two runtimes) would otherwise compete for the cores, and a FAISS
        thread waiting for a core now and then costs more than the second thread gains."""
        kv = kv.cpu()
        dist = np.full((len(kv), k), np.inf, dtype=np.float32)
        idx = np.full((len(kv), k), -1, dtype=np.int64)
        q = queries.detach().float().cpu().numpy()
        indexes = {head: self.index(layer, head) for head in kv.unique().tolist()}  # built with every thread
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1 if len(kv) < 64 else threads)
        try:
            for head, index in indexes.items():
                rows = (kv == head).nonzero().squeeze(1).numpy()
                dist[rows], idx[rows] = index.search(np.ascontiguousarray(q[rows]), k)
        finally:
            faiss.omp_set_num_threads(threads)
        return torch.from_numpy(dist), torch.from_numpy(idx)


def capture_kv(model, ids, layers):
    """Run the unmodified model (retrieval off) on ids [T] and return {layer: (keys, values)}, each [n_head, T, d]."""
    capture = {layer: None for layer in layers}
    with torch.no_grad():
        model(ids[None], capture=capture)
    return {layer: (k[0].float().cpu(), v[0].float().cpu()) for layer, (k, v) in capture.items()}


def read_windows(model, tokenizer, text, layers, bookkeeping_token, progress=True):
    """
    Keys/values of `text` in the given layers, read in windows no longer than the context.
    Creation 2: each window is prefixed by the bookkeeping token, whose positions are then dropped.
    Creation 1 is bookkeeping_token = ''.
    """
    ids = tokenizer.encode(text)
    if len(ids) == 0:
        raise MemoryStoreError("the memory text is empty: give some text (or FILE:path to a text file)")
    prefix = tokenizer.encode(bookkeeping_token) if bookkeeping_token else []
    window = model.config.block_size - len(prefix)
    device = next(model.parameters()).device
    keys = {layer: [] for layer in layers}
    values = {layer: [] for layer in layers}
    starts = range(0, len(ids), window)
    for start in tqdm(starts, desc="reading memory text", unit="window", disable=not progress or len(starts) < 2):
        chunk = torch.tensor(prefix + ids[start:start + window], device=device)
        for layer, (k, v) in capture_kv(model, chunk, layers).items():
            keys[layer].append(k[:, len(prefix):])
            values[layer].append(v[:, len(prefix):])
    cat = lambda parts: {layer: torch.cat(p, dim=1).contiguous() for layer, p in parts.items()}
    return cat(keys), cat(values), torch.tensor(ids, dtype=torch.int64)


def build_store(model, tokenizer, text, layers, bookkeeping_token="\n", progress=True, index="flat"):
    """A new store from memory text: the clean K/V of the unmodified model in `layers`. index: 'flat'
    (exact search: a torch matmul up to TORCH_SEARCH_MAX tokens, FAISS IndexFlatL2 beyond), or FAISS's
    approximate 'hnsw' or 'ivf', for stores of hundreds of thousands of tokens and more."""
    if index not in ("flat", "hnsw", "ivf"):
        raise MemoryStoreError(f"index must be 'flat', 'hnsw' or 'ivf', got {index!r}")
    layers = sorted(set(layers))
    if not layers:
        raise MemoryStoreError("no memory layers chosen: set knn_num (k > 0 in some layer) or layers")
    bad = [layer for layer in layers if not 0 <= layer < model.config.n_layer]
    if bad:
        raise MemoryStoreError(f"layers {bad} do not exist: the model has layers 0..{model.config.n_layer - 1}")
    keys, values, token_ids = read_windows(model, tokenizer, text, layers, bookkeeping_token, progress)
    k0 = keys[layers[0]]
    meta = dict(format_version=FORMAT_VERSION, model=model.name, model_fingerprint=weights_fingerprint(model),
                layers=layers, n_head=k0.shape[0], n_query_head=model.config.n_head, head_dim=k0.shape[2],
                bookkeeping_token=bookkeeping_token, tokenizer=tokenizer.name, texts=[text], token_count=len(token_ids),
                index=index)
    return MemoryStore(meta, keys, values, token_ids)


def append_text(store, model, tokenizer, text, progress=True):
    """Read more memory text into an existing store (same model, layers and bookkeeping token)."""
    check_store(store, model)
    keys, values, token_ids = read_windows(model, tokenizer, text, store.layers, store.meta["bookkeeping_token"], progress)
    for layer in store.layers:
        store.keys[layer] = torch.cat([store.keys[layer], keys[layer]], dim=1)
        store.values[layer] = torch.cat([store.values[layer], values[layer]], dim=1)
    store.token_ids = torch.cat([store.token_ids, token_ids])
    store.meta["texts"].append(text)
    store.meta["token_count"] = len(store.token_ids)
    store._index.clear()
    return store


# -----------------------------------------------------------------------------
# fit between store, model and settings

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


def check_store(store, model, settings=None):
    """Raise MemoryStoreError, with one line saying what to do, if the store does not fit the model (and settings)."""
    m = store.meta
    fp = getattr(model, "fingerprint", None) or weights_fingerprint(model)
    if m["model_fingerprint"] != fp:
        raise MemoryStoreError(
            f"memory store was built with model '{m['model']}' (weights {m['model_fingerprint']}) but this model is "
            f"'{model.name}' (weights {fp}): rebuild it with build_memory.py --init_from={model.name}")
    d, n_kv = model.config.head_dim, model.config.n_kv_head
    if (m["n_head"], m["head_dim"]) != (n_kv, d):
        raise MemoryStoreError(f"memory store has {m['n_head']} heads of dim {m['head_dim']}, "
                               f"the model {n_kv} of dim {d}")
    if settings is not None:
        if len(settings.knn_num) != model.config.n_layer:
            raise MemoryStoreError(f"knn_num has {len(settings.knn_num)} entries but the model has "
                                   f"{model.config.n_layer} layers: give one k per layer")
        missing = [layer for layer in settings.layers if layer not in store.keys]
        if missing:
            raise MemoryStoreError(f"knn_num turns the method on in layers {missing}, but the memory store holds "
                                   f"layers {store.layers} only")


# -----------------------------------------------------------------------------
# on disk: a directory with manifest.json (written last) and one safetensors file. No pickle.

def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_durably(path, write):
    write(path)
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def save_store(store, path):
    """
    Atomic save. The tensors go to a new file, then manifest.json is replaced in one os.replace():
    a crash at any point leaves either the previous store or the new one, never a mix.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MemoryStoreError(f"{path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).exists():
        raise MemoryStoreError(f"refusing to write a memory store into {path}: it is not empty and holds no store")
    path.mkdir(parents=True, exist_ok=True)
    tensors = {"token_ids": store.token_ids.contiguous()}
    for layer in store.layers:
        tensors[f"layer{layer}.keys"] = store.keys[layer].contiguous()
        tensors[f"layer{layer}.values"] = store.values[layer].contiguous()
    tmp = path / f".tensors-{uuid.uuid4().hex}.tmp"
    _write_durably(tmp, lambda p: save_file(tensors, str(p)))
    sha = _sha256(tmp)
    tensors_file = f"tensors-{sha[:16]}.safetensors"
    os.replace(tmp, path / tensors_file)
    meta = dict(store.meta, format_version=FORMAT_VERSION, token_count=len(store),
                tensors_file=tensors_file, tensors_sha256=sha)
    tmp = path / f".manifest-{uuid.uuid4().hex}.tmp"
    _write_durably(tmp, lambda p: p.write_text(json.dumps(meta, indent=1)))
    os.replace(tmp, path / MANIFEST)  # the commit point
    for old in path.glob("tensors-*.safetensors"):  # the previous store's tensors, now unreferenced
        if old.name != tensors_file:
            old.unlink()
    store.meta = meta


def load_store(path):
    """Load a store saved by save_store, verifying it. Any problem: MemoryStoreError with one clear line."""
    path = Path(path)
    rebuild = "rebuild it with build_memory.py"
    if not (path / MANIFEST).is_file():
        raise MemoryStoreError(f"no memory store at {path}: expected a directory with {MANIFEST} "
                               f"(make one with build_memory.py)")
    try:
        meta = json.loads((path / MANIFEST).read_text())
        version, tensors_file, sha = meta["format_version"], meta["tensors_file"], meta["tensors_sha256"]
        layers = [int(layer) for layer in meta["layers"]]
        for key in ("model", "model_fingerprint", "n_head", "head_dim", "bookkeeping_token", "tokenizer", "texts"):
            meta[key]
    except (ValueError, KeyError, TypeError) as e:
        raise MemoryStoreError(f"memory store {path} has a corrupted manifest ({type(e).__name__}: {e}); {rebuild}")
    if version != FORMAT_VERSION:
        raise MemoryStoreError(f"memory store {path} has format version {version}, this code reads "
                               f"{FORMAT_VERSION}; {rebuild}")
    file = path / tensors_file
    if not file.is_file():
        raise MemoryStoreError(f"memory store {path} is incomplete: {tensors_file} is missing; {rebuild}")
    if _sha256(file) != sha:
        raise MemoryStoreError(f"memory store {path} is corrupted: {tensors_file} does not match its checksum "
                               f"(truncated or changed); {rebuild}")
    try:
        t = load_file(str(file))
        store = MemoryStore(meta, {layer: t[f"layer{layer}.keys"] for layer in layers},
                            {layer: t[f"layer{layer}.values"] for layer in layers}, t["token_ids"])
    except (SafetensorError, KeyError, OSError) as e:
        raise MemoryStoreError(f"memory store {path} is corrupted ({type(e).__name__}: {e}); {rebuild}")
    expected = (meta["n_head"], meta["token_count"], meta["head_dim"])
    for layer in layers:
        if tuple(store.keys[layer].shape) != expected or tuple(store.values[layer].shape) != expected:
            raise MemoryStoreError(f"memory store {path}: layer {layer} has shape {tuple(store.keys[layer].shape)}, "
                                   f"the manifest says {expected}; {rebuild}")
    return store

"""
The memory store's data: keys, values and token ids per (layer, KV head), captured while the unmodified model
reads memory texts (reading.py), with the text and sentence each token came from (the chunks of chunk
retrieval), in parts (disk.py keeps each part in a segment file), a k-NN index per head, the texts forgotten,
and the checks that a store fits a model. The method that reads it: memory.py, through gather(), head_keys(),
chunks() and search().
"""

import itertools
import tempfile

import numpy as np
import torch

from mtm.storage import knn
from mtm.loading import weights_fingerprint

FORMAT_VERSION = 2  # 1: one tensors file (before segments)


class MemoryStoreError(ValueError):
    """A memory store that is missing, corrupted or does not fit the model: one line for the user."""


TORCH_SEARCH_MAX = 65536  # exact search as one batched matmul up to this many tokens per head; FAISS beyond


class MemoryStore:
    """
    Stored tokens in parts (a store on disk: one part per segment file, memory-mapped; a store read in RAM: one
    part). Each part maps names to tensors: 'layer{l}.keys', 'layer{l}.values' [H_kv, n, d] (any float dtype:
    the store's kv_dtype), 'token_ids', 'text_ids', 'sentence_ids' [n]. What every prompt needs (token, text and
    sentence numbers, the chooser's keys: head_keys) is held in RAM; keys and values are read through gather(),
    which touches only the rows asked for. verify(part, start byte, end byte), where given, checks the bytes of a
    part's file before they are first used (disk.py).
    """

    def __init__(self, meta, keys=None, values=None, token_ids=None, text_ids=None, sentence_ids=None,
                 sink_keys=None, sink_values=None, parts=None, verify=None, forgotten=()):
        self.meta = meta  # JSON-able description, see reading.build_store()
        if parts is None:  # one part in RAM
            n = len(token_ids)
            text_ids = torch.zeros_like(token_ids) if text_ids is None else text_ids
            parts = [dict({f"layer{layer}.keys": k for layer, k in keys.items()},
                          **{f"layer{layer}.values": v for layer, v in values.items()}, token_ids=token_ids,
                          text_ids=text_ids, sentence_ids=text_ids.clone() if sentence_ids is None else sentence_ids)]
            assert all(t.shape[-2] == n for name, t in parts[0].items() if name.startswith("layer"))
        self.parts, self.verify = parts, verify
        self.offsets = [0] + list(itertools.accumulate(len(p["token_ids"]) for p in parts))  # each part's first token
        # [N] int64: the memory token at each stored position, and the text and sentence (numbered through the
        # store) it came from
        self.token_ids, self.text_ids, self.sentence_ids = (torch.cat([self._read(i, name) for i in range(len(parts))])
                                                            for name in ("token_ids", "text_ids", "sentence_ids"))
        # {layer: [H_kv, P, d]}: the bookkeeping token(s) every window was read after, the attention sink
        # (memory.py lays them out before chosen chunks: mem_sink); empty for stores saved before they were kept
        self.sink_keys = sink_keys or {}
        self.sink_values = sink_values or {}
        self.forgotten = set(forgotten)  # text numbers forgotten (disk.forget): never chosen, searched or read
        self._index = {}  # (layer, head, metric) -> FAISS index, built on first search
        self._chunks = {}
        self._head_keys = {}
        self._layers = {}
        self.path, self.segments = None, []  # a store opened from disk: its directory and segments (disk.py)
        self._lance_dir = None  # a store in RAM: the temporary directory of its LanceDB tables (lance_table)

    def extend(self, parts, texts):
        """Add parts after the store's (reading.append_text), and their texts."""
        self.parts = self.parts + parts
        self.offsets = [0] + list(itertools.accumulate(len(p["token_ids"]) for p in self.parts))
        for name in ("token_ids", "text_ids", "sentence_ids"):
            setattr(self, name, torch.cat([getattr(self, name)] + [p[name] for p in parts]))
        self.meta = dict(self.meta, texts=self.meta["texts"] + texts, token_count=len(self.token_ids))
        for cache in (self._index, self._chunks, self._head_keys, self._layers):
            cache.clear()

    def _read(self, i, name, rows=None):
        """Part i's tensor `name`, checked first where the part is on disk; rows: [m] positions in the part (of
        every head), None: all. Only the blocks holding those rows are checked (and read from disk)."""
        t = self.parts[i][name]
        if self.verify is not None:
            self.verify(i, name, rows)
        return t if rows is None else t[..., rows, :]

    @property
    def layers(self):
        return sorted(int(name[5:-5]) for name in self.parts[0] if name.endswith(".keys") and "sink" not in name)

    def layer(self, layer, what="keys"):
        """A whole layer's keys (or values) [H_kv, N, d], all parts joined: for small stores (the paper's k-NN
        search, tests); large ones are read through gather() and head_keys()."""
        if (layer, what) not in self._layers:  # checked and joined once: the k-NN search reads it every step
            parts = [self._read(i, f"layer{layer}.{what}") for i in range(len(self.parts))]
            self._layers[layer, what] = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return self._layers[layer, what]

    @property
    def keys(self):
        return {layer: self.layer(layer, "keys") for layer in self.layers}

    @property
    def values(self):
        return {layer: self.layer(layer, "values") for layer in self.layers}

    def gather(self, layer, index):
        """Keys and values of stored tokens index [...] (any shape, 0 <= index < N): each [H_kv, ..., d], in the
        store's dtype. Reads only those rows (from each part that holds some)."""
        flat = index.reshape(-1).cpu()
        part = torch.searchsorted(torch.tensor(self.offsets[1:]), flat, right=True)
        out = []
        for what in ("keys", "values"):
            first = self.parts[0][f"layer{layer}.{what}"]
            rows = first.new_empty(first.shape[0], len(flat), first.shape[-1])
            for i in part.unique().tolist():
                sel = (part == i).nonzero().squeeze(1)
                rows[:, sel] = self._read(i, f"layer{layer}.{what}", flat[sel] - self.offsets[i]).to(rows.device)
            out.append(rows.view(rows.shape[0], *index.shape, rows.shape[-1]).to(index.device))
        return out

    def head_keys(self, layer, kv):
        """One KV head's keys of every stored token [N, d], the store's dtype: what chunk retrieval's chooser
        compares every prompt with, read once and kept in RAM."""
        if (layer, kv) not in self._head_keys:
            self._head_keys[layer, kv] = torch.cat([self._read(i, f"layer{layer}.keys")[kv]
                                                    for i in range(len(self.parts))])
        return self._head_keys[layer, kv]

    @property
    def recomputes(self):
        """A kv='recompute' store keeps the chooser's keys and the token ids only: the keys and values of chosen
        chunks are read again by the model (memory.recompute_rows, over the windows of windows())."""
        return self.meta.get("kv", "stored") == "recompute"

    def windows(self, rows):
        """
        The windows stored tokens rows [U] (sorted, distinct) were read in, to read them again: each window is the
        bookkeeping token's ids and a run of its text's tokens from the window's start (reading.read_group), cut
        after the last row it holds (causal attention: later tokens change nothing before them).
        Returns ids [W, L] (padded on the right with 0) and, for each row, its window and column [U] each.
        """
        prefix, window = self.meta["prefix_ids"], self.meta["window"]
        text_of, starts, _ = self.chunks("text")
        text_start = torch.tensor(starts)[text_of[rows]]  # [U] the first stored token of each row's text
        begin = text_start + (rows - text_start) // window * window  # [U] its window's first stored token
        firsts, which = torch.unique(begin, return_inverse=True)
        ends = torch.zeros(len(firsts), dtype=torch.long).scatter_reduce(0, which, rows + 1, "amax")
        width = len(prefix) + int((ends - firsts).max())
        ids = torch.zeros(len(firsts), width, dtype=torch.long)
        for w, (a, b) in enumerate(zip(firsts.tolist(), ends.tolist())):
            ids[w, :len(prefix) + b - a] = torch.cat([torch.tensor(prefix, dtype=torch.long), self.token_ids[a:b]])
        return ids, which, len(prefix) + rows - begin

    def forgotten_tokens(self):
        """[N] bool: the stored tokens of forgotten texts (None when nothing is forgotten)."""
        if not self.forgotten:
            return None
        if "dead" not in self._chunks:  # once: every search asks
            self._chunks["dead"] = torch.isin(self.text_ids, torch.tensor(sorted(self.forgotten)))
        return self._chunks["dead"]

    def chunks(self, chunk_by="text", chunk_size=64):
        """Chunks are runs of consecutive stored tokens: a text, a sentence, or a block of chunk_size tokens of
        one text. Returns chunk_of [N] (each token's chunk), starts [C] and lengths [C]."""
        if (chunk_by, chunk_size) not in self._chunks:
            if chunk_by == "block":
                new_text = torch.ones_like(self.text_ids, dtype=torch.bool)
                new_text[1:] = self.text_ids[1:] != self.text_ids[:-1]
                text_start = torch.cummax(torch.where(new_text, torch.arange(len(self)), 0), 0).values
                label = self.text_ids * (len(self) + 1) + (torch.arange(len(self)) - text_start) // chunk_size
            else:
                label = self.text_ids if chunk_by == "text" else self.sentence_ids
            _, lengths = torch.unique_consecutive(label, return_counts=True)
            chunk_of = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
            starts = torch.cumsum(lengths, 0) - lengths
            self._chunks[chunk_by, chunk_size] = (chunk_of, starts.tolist(), lengths.tolist())
        return self._chunks[chunk_by, chunk_size]

    def derived(self, key, make):
        """A value computed from the stored chunks (chunks.chunk_typical): make() once per key, again after extend."""
        if ("derived", key) not in self._chunks:
            self._chunks["derived", key] = make()
        return self._chunks["derived", key]

    def __len__(self):
        return len(self.token_ids)

    @property
    def sink_length(self):
        """How many bookkeeping tokens the store keeps (0: none, or a store saved before they were kept)."""
        return next(iter(self.sink_keys.values())).shape[1] if self.sink_keys else 0

    def to(self, device):
        """Keys and values on the device the model runs on (the exact torch search runs there too); a store on
        disk stays where it is unless the device is another than the CPU."""
        for part in self.parts:
            part.update({name: t.to(device) for name, t in part.items() if name.startswith("layer")})
        self.sink_keys = {layer: t.to(device) for layer, t in self.sink_keys.items()}
        self.sink_values = {layer: t.to(device) for layer, t in self.sink_values.items()}
        self._layers.clear()
        self._head_keys.clear()
        return self

    def index(self, layer, head, metric="key_l2"):
        """The FAISS index of one (layer, KV head): the manifest's `index` ('flat', 'hnsw' or 'ivf'), over squared
        L2 distance (metric 'key_l2'), inner product ('query_ip') or inner product of unit keys ('query_cos'),
        built from the store's keys on first use (knn.faiss_index)."""
        if (layer, head, metric) not in self._index:
            keys = self.layer(layer)[head].float().cpu().numpy()
            if metric == "query_cos":
                keys = keys / np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
            self._index[layer, head, metric] = knn.faiss_index(keys, self.meta.get("index", "flat"), metric)
        return self._index[layer, head, metric]

    def search(self, layer, heads, queries, k, metric="key_l2"):
        """
        k nearest stored keys for each query. heads: [S] query-head indices (grouped-query models
        share one store per KV head); queries: [S, d]. metric: 'key_l2' (the paper: smallest squared L2
        distance), 'query_ip' (largest inner product) or 'query_cos' (largest cosine). Returns keys [S, k, d],
        values [S, k, d], found [S, k] bool (False where the store has fewer than k entries), distances [S, k]
        (L2: the squared distance; otherwise minus the similarity, so that smaller is nearer), indices [S, k].
        Backend: torch's exact matmul for flat stores of up to TORCH_SEARCH_MAX tokens, FAISS beyond (knn.py).
        """
        group = self.meta.get("n_query_head", self.meta["n_head"]) // self.meta["n_head"]
        kv = heads // group
        if metric == "query_cos":
            queries = queries / queries.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        kind = self.meta.get("index", "flat")
        if kind == "flat" and len(self) <= TORCH_SEARCH_MAX:
            keys = self.layer(layer).float()  # [H_kv, N, d]
            if metric == "query_cos":
                keys = keys / keys.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            dist, idx = knn.torch_nearest(keys, kv, queries.float(), k, metric, self.forgotten_tokens())
        else:
            indexes = {head: self.index(layer, head, metric) for head in kv.unique().tolist()}  # built with every thread
            dist, idx = knn.faiss_nearest(indexes, kind, kv, queries, k, self.forgotten_tokens())
            if metric != "key_l2":
                dist = -dist  # FAISS gives similarities for inner product
        found = idx >= 0
        keys, values = self.layer(layer, "keys"), self.layer(layer, "values")
        kv_idx, safe = kv.to(keys.device)[:, None], idx.clamp(min=0).to(keys.device)
        dev = queries.device
        return (keys[kv_idx, safe].to(dev), values[kv_idx, safe].to(dev), found.to(dev),
                dist.masked_fill(~found, float("inf")), idx)

    def chunk_scores(self, layer, kv, queries, chunk_by="text", chunk_size=64, backend="torch", limit=16):
        """
        The chooser's late interaction: for queries [R, Q, d] of KV head kv's query heads in this layer, each chunk's
        score, the sum over the queries of each one's best inner product with the chunk's stored keys: [R, C]; a
        forgotten text's chunks -inf. backend 'torch': exact, over the chooser's keys kept in RAM (head_keys);
        'lancedb': LanceDB's multivector search (exact) over a table of the chunks (knn.lance_table, in the store's
        directory under lancedb/, built on first use, appended to when the store grew), which scores each row's
        `limit` best chunks; the others are -inf.
        """
        chunk_of, starts, lengths = self.chunks(chunk_by, chunk_size)
        if backend == "torch":
            scores = knn.torch_chunk_best(self.head_keys(layer, kv), chunk_of, len(starts), queries).sum(dim=1)
            if self.forgotten:  # a forgotten text's chunks are never chosen
                scores[:, torch.isin(self.text_ids[starts], torch.tensor(sorted(self.forgotten)))] = float("-inf")
            return scores
        if ("number", chunk_by, chunk_size) not in self._chunks:  # once: every choice maps LanceDB's rows back
            texts, offsets = self._chunk_places(chunk_by, chunk_size)
            self._chunks["number", chunk_by, chunk_size] = {(t, o): c for c, (t, o) in
                                                            enumerate(zip(texts.tolist(), offsets.tolist()))}
        number = self._chunks["number", chunk_by, chunk_size]
        table = self.lance_table(layer, kv, chunk_by, chunk_size)
        scores = torch.full((len(queries), len(starts)), float("-inf"))
        for r, found in enumerate(knn.lance_chunk_best(table, queries, limit, self.forgotten)):
            for text, offset, score in found:
                scores[r, number[text, offset]] = score
        return scores

    def _chunk_places(self, chunk_by, chunk_size):
        """Each chunk's text number and the offset of its first token in that text, [C] each: what names a chunk
        whatever the store's compaction removed before it."""
        _, starts, _ = self.chunks(chunk_by, chunk_size)
        text_of, text_starts, _ = self.chunks("text")
        starts = torch.tensor(starts)
        return self.text_ids[starts], starts - torch.tensor(text_starts)[text_of[starts]]

    def lance_table(self, layer, kv, chunk_by="text", chunk_size=64):
        """The LanceDB table of this (layer, KV head)'s chunks (knn.lance_table): in the store's directory, or, for a
        store in RAM, in a temporary one that lives as long as the store. Written a part at a time."""
        key = ("lancedb", layer, kv, chunk_by, chunk_size)
        if key not in self._index:
            if self.path is None and self._lance_dir is None:
                self._lance_dir = tempfile.TemporaryDirectory(prefix="mtm-lancedb-")
            directory = self.path / "lancedb" if self.path is not None else self._lance_dir.name
            chunk_of, starts, lengths = self.chunks(chunk_by, chunk_size)
            texts, offsets = self._chunk_places(chunk_by, chunk_size)

            def rows(newest):
                for i in range(len(self.parts)):
                    lo, hi = self.offsets[i], self.offsets[i + 1]
                    mine = [c for c in range(int(chunk_of[lo]), int(chunk_of[hi - 1]) + 1) if texts[c] > newest] \
                        if hi > lo else []
                    if not mine:
                        continue
                    keys = self._read(i, f"layer{layer}.keys")[kv]  # [n, d], this part's rows only
                    take = torch.cat([torch.arange(starts[c], starts[c] + lengths[c]) for c in mine]) - lo
                    yield (texts[mine].tolist(), offsets[mine].tolist(), [lengths[c] for c in mine], keys[take])

            name = f"layer{layer}_kv{kv}_{chunk_by}" + (str(chunk_size) if chunk_by == "block" else "")
            self._index[key] = knn.lance_table(directory, name, rows)
        return self._index[key]


# -----------------------------------------------------------------------------
# fit between store, model and settings

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
        if settings.bookkeeping_token is not None and m["bookkeeping_token"] != settings.bookkeeping_token:
            raise MemoryStoreError(f"memory store was read after bookkeeping_token {m['bookkeeping_token']!r}, these "
                                   f"settings read after {settings.bookkeeping_token!r}: build it with the template "
                                   f"that reads it (build_memory.py TEMPLATE), or set "
                                   f"bookkeeping_token={m['bookkeeping_token']!r} to read it as it was built")
        if settings.mem_position == "before" and settings.mem_sink and m["bookkeeping_token"] and not store.sink_length:
            raise MemoryStoreError("mem_sink lays out the store's bookkeeping token, but this store was saved before "
                                   "stores kept it: rebuild it with build_memory.py (or set mem_sink = False)")
        if any(h >= model.config.n_head for h in settings.chunk_heads or []):
            raise MemoryStoreError(f"chunk_heads {settings.chunk_heads} name heads the model lacks: it has query heads "
                                   f"0..{model.config.n_head - 1}")
        if store.recomputes and not settings.chunk_select:
            raise MemoryStoreError("this memory store keeps token ids and the chooser's keys only (kv='recompute'): "
                                   "only chunk retrieval (chunk_select > 0) reads it; build one with kv='stored'")
        wanted = settings.chunk_layers if store.recomputes else settings.store_layers
        missing = [layer for layer in wanted if layer not in store.layers]
        if missing:
            what = "chunk_layers score the chunks" if store.recomputes else "knn_num turns the method on"
            raise MemoryStoreError(f"{what} in layers {missing}, but the memory store holds layers {store.layers} only")

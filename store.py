"""
The memory store: keys, values and token ids per (layer, KV head), captured while the unmodified model reads
memory texts, with the text and sentence each token came from (the chunks of chunk retrieval), a k-NN index per
head, and the store on disk (a directory: manifest.json written last, one safetensors file; no pickle).
The method that reads it: memory.py.
"""

import itertools
import json
import math
import os
import uuid
from pathlib import Path

import faiss
import numpy as np
import torch
from filelock import FileLock
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from embedded import file_sha256
from loading import weights_fingerprint

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class MemoryStoreError(ValueError):
    """A memory store that is missing, corrupted or does not fit the model: one line for the user."""


TORCH_SEARCH_MAX = 65536  # exact search as one batched matmul up to this many tokens per head; FAISS beyond


class MemoryStore:
    def __init__(self, meta, keys, values, token_ids, text_ids=None, sentence_ids=None, sink_keys=None,
                 sink_values=None):
        self.meta = meta            # JSON-able description, see build_store()
        self.keys = keys            # {layer: [n_head, N, head_dim] float32}
        self.values = values        # {layer: [n_head, N, head_dim] float32}
        self.token_ids = token_ids  # [N] int64, the memory token at each stored position
        # [N] int64: which memory text, and which sentence (numbered through the store), each token came from
        self.text_ids = torch.zeros_like(token_ids) if text_ids is None else text_ids
        self.sentence_ids = self.text_ids.clone() if sentence_ids is None else sentence_ids  # saved apart
        # {layer: [n_head, P, head_dim]}: the bookkeeping token(s) every window was read after, the attention sink
        # (memory.py lays them out before chosen chunks: mem_sink); empty for stores saved before they were kept
        self.sink_keys = sink_keys or {}
        self.sink_values = sink_values or {}
        self._index = {}            # (layer, head, metric) -> FAISS index, built on first search
        self._chunks = {}

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

    def __len__(self):
        return len(self.token_ids)

    @property
    def sink_length(self):
        """How many bookkeeping tokens the store keeps (0: none, or a store saved before they were kept)."""
        return next(iter(self.sink_keys.values())).shape[1] if self.sink_keys else 0

    @property
    def layers(self):
        return sorted(self.keys)

    def to(self, device):
        """Keys and values on the device the model runs on (the exact torch search runs there too)."""
        for name in ("keys", "values", "sink_keys", "sink_values"):
            setattr(self, name, {layer: t.to(device) for layer, t in getattr(self, name).items()})
        return self

    def index(self, layer, head, metric="key_l2"):
        """The FAISS index of one (layer, KV head): the manifest's `index` ('flat', 'hnsw' or 'ivf'), over squared
        L2 distance (metric 'key_l2'), inner product ('query_ip') or inner product of unit keys ('query_cos')."""
        if (layer, head, metric) not in self._index:
            keys = self.keys[layer][head].float().cpu().numpy()
            if metric == "query_cos":
                keys = keys / np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
            kind, d = self.meta.get("index", "flat"), self.meta["head_dim"]
            faiss_metric = faiss.METRIC_L2 if metric == "key_l2" else faiss.METRIC_INNER_PRODUCT
            if kind == "hnsw":  # graph search: approximate, cost ~ log N; on 1M layer-0 keys it found only ~92 %
                # of the true 5 nearest at efSearch 64-128 (docs/performance.md), IVF 96 %
                index = faiss.IndexHNSWFlat(d, 32, faiss_metric)
                index.hnsw.efConstruction, index.hnsw.efSearch = 64, 64
            elif kind == "ivf":  # inverted lists: approximate, scans nprobe of nlist clusters
                # sqrt(N) lists, trained on 64 keys a list: 1M keys build in seconds a head (4 sqrt(N) lists
                # trained on every key took over a minute); nprobe 64 finds >= 95 % of the true 5 nearest there.
                # The lists hold the keys in float16: a search reads half the bytes (it is bound by memory
                # bandwidth), twice as fast, and finds the same neighbours (the keys themselves come from the store)
                nlist = max(1, min(len(keys) // 39, int(math.sqrt(len(keys)))))
                quantizer = faiss.IndexFlatL2(d) if metric == "key_l2" else faiss.IndexFlatIP(d)
                index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_fp16, faiss_metric)
                sample = np.random.default_rng(0).choice(len(keys), min(len(keys), 64 * nlist), replace=False)
                index.train(keys[np.sort(sample)])
                index.nprobe = min(nlist, 64)
            else:  # exact: squared Euclidean distance, as the paper, or inner product
                index = faiss.IndexFlatL2(d) if metric == "key_l2" else faiss.IndexFlatIP(d)
            index.add(keys)
            self._index[layer, head, metric] = index
        return self._index[layer, head, metric]

    def search(self, layer, heads, queries, k, metric="key_l2"):
        """
        k nearest stored keys for each query. heads: [S] query-head indices (grouped-query models
        share one store per KV head); queries: [S, d]. metric: 'key_l2' (the paper: smallest squared L2
        distance), 'query_ip' (largest inner product) or 'query_cos' (largest cosine). Returns keys [S, k, d],
        values [S, k, d], found [S, k] bool (False where the store has fewer than k entries), distances [S, k]
        (L2: the squared distance; otherwise minus the similarity, so that smaller is nearer), indices [S, k].
        """
        group = self.meta.get("n_query_head", self.meta["n_head"]) // self.meta["n_head"]
        kv = heads // group
        if metric == "query_cos":
            queries = queries / queries.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        if self.meta.get("index", "flat") == "flat" and len(self) <= TORCH_SEARCH_MAX:
            dist, idx = self.torch_search(layer, kv, queries.float(), k, metric)
        else:
            dist, idx = self.faiss_search(layer, kv, queries, k, metric)
            if metric != "key_l2":
                dist = -dist  # FAISS gives similarities for inner product
        found = idx >= 0
        keys, values = self.keys[layer], self.values[layer]
        kv_idx, safe = kv.to(keys.device)[:, None], idx.clamp(min=0).to(keys.device)
        dev = queries.device
        return (keys[kv_idx, safe].to(dev), values[kv_idx, safe].to(dev), found.to(dev),
                dist.masked_fill(~found, float("inf")), idx)

    def torch_search(self, layer, kv, queries, k, metric="key_l2"):
        """Exact search for all queries at once: queries grouped by KV head into a padded batch, one matmul."""
        keys = self.keys[layer]  # [H_kv, N, d]
        if metric == "query_cos":
            keys = keys / keys.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        H_kv, N, d = keys.shape
        S = len(kv)
        kv = kv.to(keys.device)
        counts = torch.bincount(kv, minlength=H_kv)
        order = torch.argsort(kv, stable=True)
        slot = torch.arange(S, device=keys.device) - (torch.cumsum(counts, 0) - counts)[kv[order]]
        padded = queries.new_zeros(H_kv, int(counts.max()), d).to(keys.device)
        padded[kv[order], slot] = queries[order].to(keys.device)
        if metric == "key_l2":
            dist = ((padded ** 2).sum(-1, keepdim=True) - 2 * padded @ keys.transpose(1, 2)
                    + (keys ** 2).sum(-1)[:, None, :]).clamp(min=0)  # [H_kv, S_max, N]
        else:  # similarity, negated so that the nearest is the smallest
            dist = -(padded @ keys.transpose(1, 2))
        top_i = torch.topk(dist, min(k, N), dim=-1, largest=False).indices[kv[order], slot]  # [S, k] sorted
        found_k = keys[kv[order][:, None], top_i]
        if metric == "key_l2":  # the winners' distances again, directly: the expansion above loses precision near 0
            top_d = ((found_k - padded[kv[order], slot][:, None]) ** 2).sum(-1)
        else:
            top_d = -(found_k @ padded[kv[order], slot][:, :, None]).squeeze(-1)
        out_d = torch.full((S, k), float("inf"), device=keys.device)
        out_i = torch.full((S, k), -1, dtype=torch.long, device=keys.device)
        out_d[order, :top_i.shape[-1]] = top_d
        out_i[order, :top_i.shape[-1]] = top_i
        return out_d, out_i

    def faiss_search(self, layer, kv, queries, k, metric="key_l2"):
        """FAISS, one batched search per KV head. A generated token's few queries are searched on one thread:
        FAISS's OpenMP threads and torch's (two runtimes) would otherwise compete for the cores, and a FAISS
        thread waiting for a core now and then costs more than the second thread gains."""
        kv = kv.cpu()
        dist = np.full((len(kv), k), np.inf, dtype=np.float32)
        idx = np.full((len(kv), k), -1, dtype=np.int64)
        q = queries.detach().float().cpu().numpy()
        indexes = {head: self.index(layer, head, metric) for head in kv.unique().tolist()}  # built with every thread
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
    """Run the unmodified model (retrieval off) on ids [B, T] and return {layer: (keys, values)}, each
    [B, n_head, T, d] (rotary models: pre-rotary keys)."""
    capture = {layer: None for layer in layers}
    with torch.no_grad():
        model(ids, capture=capture)
    return {layer: (k.float().cpu(), v.float().cpu()) for layer, (q, k, v) in capture.items()}


def sentence_numbers(tokenizer, ids):
    """Each token's sentence within its text, counting from 0: a sentence ends after a token whose text ends
    in '.', '!', '?' or holds a line break."""
    ends = [(t.rstrip(" \"')").endswith((".", "!", "?")) or "\n" in t) for t in map(lambda i: tokenizer.decode([i]), ids)]
    return [0] + list(itertools.accumulate(int(e) for e in ends[:-1])) if ids else []


def memory_texts(text, one_text_per_line=False):
    """A memory text as the store reads it: the text itself, or each non-empty line its own text (one chunk each)."""
    return [line for line in text.splitlines() if line.strip()] if one_text_per_line else text


def read_texts(model, tokenizer, texts, layers, bookkeeping_token, progress=True, batch_size=32):
    """
    Keys/values of each text in the given layers. Each text is read on its own (no text attends to another),
    in windows no longer than the context, each window prefixed by the bookkeeping token, whose positions are
    then dropped (creation 2; creation 1 is bookkeeping_token = ''). Windows are read batch_size at a time,
    padded on the right: causal attention keeps the padding invisible to the real tokens.
    Returns keys, values {layer: [n_head, N, d]} and token_ids, text_ids, sentence_ids [N], in text order.
    """
    prefix = tokenizer.encode(bookkeeping_token) if bookkeeping_token else []
    window = model.config.block_size - len(prefix)
    device = next(model.parameters()).device
    pieces, token_ids, text_ids, sentence_ids = [], [], [], []
    for i, text in enumerate(texts):
        ids = tokenizer.encode(text)
        if len(ids) == 0:
            which = f"memory text #{i + 1} of {len(texts)}" if len(texts) > 1 else "the memory text"
            raise MemoryStoreError(f"{which} is empty: give some text (or FILE:path to a text file)")
        pieces += [prefix + ids[s:s + window] for s in range(0, len(ids), window)]
        sentences = sentence_numbers(tokenizer, ids)
        offset = sentence_ids[-1] + 1 if sentence_ids else 0
        token_ids += ids
        text_ids += [i] * len(ids)
        sentence_ids += [offset + s for s in sentences]
    first = {}  # a window's keys and values depend on its tokens alone: identical windows are read once
    for j, piece in enumerate(pieces):
        first.setdefault(tuple(piece), j)
    unique = sorted(set(first.values()), key=lambda j: len(pieces[j]))  # similar lengths together: little padding
    keys, values = {layer: [None] * len(pieces) for layer in layers}, {layer: [None] * len(pieces) for layer in layers}
    batches = [unique[lo:lo + batch_size] for lo in range(0, len(unique), batch_size)]
    for batch in tqdm(batches, desc="reading memory text", unit="batch", disable=not progress or len(batches) < 2):
        width = max(len(pieces[j]) for j in batch)
        ids = torch.tensor([pieces[j] + [0] * (width - len(pieces[j])) for j in batch], device=device)
        for layer, (k, v) in capture_kv(model, ids, layers).items():
            for row, j in enumerate(batch):
                keys[layer][j] = k[row, :, len(prefix):len(pieces[j])]
                values[layer][j] = v[row, :, len(prefix):len(pieces[j])]
    for parts in (keys, values):  # one layer at a time, each layer's pieces released once joined
        for layer in layers:
            parts[layer] = torch.cat([parts[layer][first[tuple(p)]] for p in pieces], dim=1).contiguous()
    as_tensor = lambda xs: torch.tensor(xs, dtype=torch.int64)
    return keys, values, as_tensor(token_ids), as_tensor(text_ids), as_tensor(sentence_ids)


def read_sink(model, tokenizer, layers, bookkeeping_token):
    """Keys/values {layer: [n_head, P, d]} of the bookkeeping token read alone: what every window starts with."""
    prefix = tokenizer.encode(bookkeeping_token) if bookkeeping_token else []
    if not prefix:
        return {}, {}
    kv = capture_kv(model, torch.tensor([prefix], device=next(model.parameters()).device), layers)
    return ({layer: k[0].contiguous() for layer, (k, _) in kv.items()},
            {layer: v[0].contiguous() for layer, (_, v) in kv.items()})


def build_store(model, tokenizer, text, layers, bookkeeping_token="\n", progress=True, index="flat"):
    """A new store from memory text (a string, or a list of texts, each read on its own and each a chunk for
    chunk retrieval): the clean K/V of the unmodified model in `layers`. index: 'flat' (exact search: a torch
    matmul up to TORCH_SEARCH_MAX tokens, FAISS IndexFlatL2 beyond), or FAISS's approximate 'hnsw' or 'ivf',
    for stores of hundreds of thousands of tokens and more."""
    if index not in ("flat", "hnsw", "ivf"):
        raise MemoryStoreError(f"index must be 'flat', 'hnsw' or 'ivf', got {index!r}")
    layers = sorted(set(layers))
    if not layers:
        raise MemoryStoreError("no memory layers chosen: set knn_num (k > 0 in some layer) or layers")
    bad = [layer for layer in layers if not 0 <= layer < model.config.n_layer]
    if bad:
        raise MemoryStoreError(f"layers {bad} do not exist: the model has layers 0..{model.config.n_layer - 1}")
    texts = [text] if isinstance(text, str) else list(text)
    if not texts:
        raise MemoryStoreError("no memory texts given")
    keys, values, token_ids, text_ids, sentence_ids = read_texts(model, tokenizer, texts, layers, bookkeeping_token,
                                                                 progress)
    k0 = keys[layers[0]]
    meta = dict(format_version=FORMAT_VERSION, model=model.name, model_fingerprint=weights_fingerprint(model),
                layers=layers, n_head=k0.shape[0], n_query_head=model.config.n_head, head_dim=k0.shape[2],
                bookkeeping_token=bookkeeping_token, tokenizer=tokenizer.name, texts=texts, token_count=len(token_ids),
                index=index)
    return MemoryStore(meta, keys, values, token_ids, text_ids, sentence_ids,
                       *read_sink(model, tokenizer, layers, bookkeeping_token))


def append_text(store, model, tokenizer, text, progress=True):
    """Read more memory text (a string or a list of texts) into an existing store (same model, layers and
    bookkeeping token). Each text is a new text of the store: its own chunk."""
    check_store(store, model)
    texts = [text] if isinstance(text, str) else list(text)
    keys, values, token_ids, text_ids, sentence_ids = read_texts(model, tokenizer, texts, store.layers,
                                                                 store.meta["bookkeeping_token"], progress)
    for layer in store.layers:
        store.keys[layer] = torch.cat([store.keys[layer], keys[layer]], dim=1)
        store.values[layer] = torch.cat([store.values[layer], values[layer]], dim=1)
    store.token_ids = torch.cat([store.token_ids, token_ids])
    store.text_ids = torch.cat([store.text_ids, text_ids + len(store.meta["texts"])])
    store.sentence_ids = torch.cat([store.sentence_ids, sentence_ids + int(store.sentence_ids.max()) + 1])
    store.meta["texts"] += texts
    store.meta["token_count"] = len(store.token_ids)
    store._index.clear()
    store._chunks.clear()
    return store


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
        if settings.mem_position == "before" and settings.mem_sink and m["bookkeeping_token"] and not store.sink_length:
            raise MemoryStoreError("mem_sink lays out the store's bookkeeping token, but this store was saved before "
                                   "stores kept it: rebuild it with build_memory.py (or set mem_sink = False)")
        if any(h >= model.config.n_head for h in settings.chunk_heads or []):
            raise MemoryStoreError(f"chunk_heads {settings.chunk_heads} name heads the model lacks: it has query heads "
                                   f"0..{model.config.n_head - 1}")
        missing = [layer for layer in settings.store_layers if layer not in store.keys]
        if missing:
            raise MemoryStoreError(f"knn_num turns the method on in layers {missing}, but the memory store holds "
                                   f"layers {store.layers} only")


# -----------------------------------------------------------------------------
# on disk: a directory with manifest.json (written last) and one safetensors file. No pickle.

def _write_durably(path, write):
    write(path)
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def store_lock(path):
    """The writers' lock of the store at path (a file lock: other processes wait for it). Hold it around every
    read-change-write of a store (build_memory.py --append), or two writers at once would each save their own
    change and one would be lost. Readers need no lock: the manifest is replaced in one step."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MemoryStoreError(f"{path} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path / ".lock"))


def save_store(store, path):
    """
    Atomic save. The tensors go to a new file, then manifest.json is replaced in one os.replace():
    a crash at any point leaves either the previous store or the new one, never a mix. Approximate stores
    ('ivf', 'hnsw') save their FAISS indexes too (FAISS's own serialization, in the same checksummed file), so a
    large store opens without rebuilding them.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MemoryStoreError(f"{path} exists and is not a directory")
    if path.is_dir() and any(not p.name.startswith(".") for p in path.iterdir()) and not (path / MANIFEST).exists():
        raise MemoryStoreError(f"refusing to write a memory store into {path}: it is not empty and holds no store")
    path.mkdir(parents=True, exist_ok=True)
    tensors = {"token_ids": store.token_ids.contiguous(), "text_ids": store.text_ids.contiguous(),
               "sentence_ids": store.sentence_ids.contiguous()}
    if store.meta.get("index", "flat") != "flat":  # the paper's search (key_l2) always, other metrics once used
        wanted = {(layer, head, "key_l2") for layer in store.layers for head in range(store.meta["n_head"])}
        for layer, head, metric in sorted(wanted | set(store._index)):
            blob = faiss.serialize_index(store.index(layer, head, metric))
            tensors[f"faiss.{metric}.layer{layer}.head{head}"] = torch.from_numpy(blob)
    for layer in store.layers:
        tensors[f"layer{layer}.keys"] = store.keys[layer].contiguous()
        tensors[f"layer{layer}.values"] = store.values[layer].contiguous()
        if layer in store.sink_keys:
            tensors[f"layer{layer}.sink_keys"] = store.sink_keys[layer].contiguous()
            tensors[f"layer{layer}.sink_values"] = store.sink_values[layer].contiguous()
    tmp = path / f".tensors-{uuid.uuid4().hex}.tmp"
    _write_durably(tmp, lambda p: save_file(tensors, str(p)))
    sha = file_sha256(tmp)
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
    if file_sha256(file) != sha:
        raise MemoryStoreError(f"memory store {path} is corrupted: {tensors_file} does not match its checksum "
                               f"(truncated or changed); {rebuild}")
    try:
        t = load_file(str(file))
        store = MemoryStore(meta, {layer: t[f"layer{layer}.keys"] for layer in layers},
                            {layer: t[f"layer{layer}.values"] for layer in layers}, t["token_ids"],
                            t.get("text_ids"), t.get("sentence_ids"),  # stores saved before chunks: one text
                            *({layer: t[f"layer{layer}.sink_{kind}"] for layer in layers
                               if f"layer{layer}.sink_keys" in t} for kind in ("keys", "values")))
    except (SafetensorError, KeyError, OSError) as e:
        raise MemoryStoreError(f"memory store {path} is corrupted ({type(e).__name__}: {e}); {rebuild}")
    for name in [name for name in t if name.startswith("faiss.")]:  # saved indexes: loaded, not rebuilt
        _, metric, layer, head = name.split(".")
        try:
            store._index[int(layer[5:]), int(head[4:]), metric] = faiss.deserialize_index(t[name].numpy())
        except RuntimeError as e:  # e.g. written by a FAISS this one cannot read: rebuilt when first searched
            print(f"note: memory store {path}: its saved FAISS index {name} cannot be read ({str(e).splitlines()[0]}); "
                  f"it is rebuilt when first searched")
    if meta.get("index", "flat") != "flat" and not any(name.startswith("faiss.") for name in t):
        print(f"note: memory store {path} holds no saved FAISS index (saved before stores kept them): it is built "
              f"when first searched (about a minute at 1M tokens); rebuild the store to keep it")
    expected = (meta["n_head"], meta["token_count"], meta["head_dim"])
    for layer in layers:
        if tuple(store.keys[layer].shape) != expected or tuple(store.values[layer].shape) != expected:
            raise MemoryStoreError(f"memory store {path}: layer {layer} has shape {tuple(store.keys[layer].shape)}, "
                                   f"the manifest says {expected}; {rebuild}")
    if len(store.text_ids) != len(store) or len(store.sentence_ids) != len(store):
        raise MemoryStoreError(f"memory store {path}: its text and sentence numbers do not match its "
                               f"{len(store)} tokens; {rebuild}")
    return store

"""
The store's search backends, behind two small functions each: nearest stored keys for queries (the paper's k-NN
search, kNN attention) and the chooser's chunk scores (chunk retrieval). Backends: torch (exact, one batched matmul),
FAISS (flat, IVF, HNSW, built from the store's plain keys, never read from a serialized blob). store.py chooses one
per call and caches what it builds; memory.py never sees them.

    dist, idx = torch_nearest(keys, kv, queries, k, "key_l2", dead)             # [S, k] each
    dist, idx = faiss_nearest({head: faiss_index(keys_np, "ivf", "key_l2")}, "ivf", kv, queries, k, dead)
    best = torch_chunk_best(keys, chunk_of, n_chunks, queries)                 # [R, Q, C]
"""
import math

import faiss
import numpy as np
import torch


def faiss_index(keys, kind="flat", metric="key_l2"):
    """A FAISS index over keys [N, d] (numpy float32; unit rows for 'query_cos'): kind 'flat' (exact), 'hnsw' or
    'ivf' (approximate); metric 'key_l2' (squared L2 distance) or 'query_ip' / 'query_cos' (inner product)."""
    N, d = keys.shape
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
        nlist = max(1, min(N // 39, int(math.sqrt(N))))
        quantizer = faiss.IndexFlatL2(d) if metric == "key_l2" else faiss.IndexFlatIP(d)
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_fp16, faiss_metric)
        sample = np.random.default_rng(0).choice(N, min(N, 64 * nlist), replace=False)
        index.train(keys[np.sort(sample)])
        index.nprobe = min(nlist, 64)
    else:  # exact: squared Euclidean distance, as the paper, or inner product
        index = faiss.IndexFlatL2(d) if metric == "key_l2" else faiss.IndexFlatIP(d)
    index.add(keys)
    return index


def torch_nearest(keys, kv, queries, k, metric="key_l2", dead=None):
    """Exact search for all queries at once: queries [S, d] (float32) grouped by their KV head kv [S] into a padded
    batch, one matmul against keys [H_kv, N, d] (float32). dead [N] bool: tokens never found (forgotten).
    Returns distances and indices [S, k] (L2: squared distance; otherwise minus the similarity; inf / -1 where
    fewer than k are found)."""
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
    if dead is not None:  # forgotten texts' tokens are never found
        dist = dist.masked_fill(dead.to(keys.device), float("inf"))
    top_i = torch.topk(dist, min(k, N), dim=-1, largest=False).indices[kv[order], slot]  # [S, k] sorted
    found_k = keys[kv[order][:, None], top_i]
    if metric == "key_l2":  # the winners' distances again, directly: the expansion above loses precision near 0
        top_d = ((found_k - padded[kv[order], slot][:, None]) ** 2).sum(-1)
    else:
        top_d = -(found_k @ padded[kv[order], slot][:, :, None]).squeeze(-1)
    if dead is not None:
        gone = dead.to(keys.device)[top_i]
        top_d, top_i = top_d.masked_fill(gone, float("inf")), top_i.masked_fill(gone, -1)
    out_d = torch.full((S, k), float("inf"), device=keys.device)
    out_i = torch.full((S, k), -1, dtype=torch.long, device=keys.device)
    out_d[order, :top_i.shape[-1]] = top_d
    out_i[order, :top_i.shape[-1]] = top_i
    return out_d, out_i


def faiss_nearest(indexes, kind, kv, queries, k, dead=None):
    """FAISS, one batched search per KV head: indexes {head: faiss_index}, queries [S, d], kv [S]; dead as
    torch_nearest. Returns (distances, indices) [S, k] as FAISS gives them (similarities for inner product).
    A generated token's few queries are searched on one thread: FAISS's OpenMP threads and torch's (two runtimes)
    would otherwise compete for the cores, and a FAISS thread waiting for a core now and then costs more than the
    second thread gains."""
    kv = kv.cpu()
    dist = np.full((len(kv), k), np.inf, dtype=np.float32)
    idx = np.full((len(kv), k), -1, dtype=np.int64)
    q = queries.detach().float().cpu().numpy()
    params = {}
    if dead is not None:  # forgotten texts' tokens are never found: FAISS skips them while it searches
        sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(dead.nonzero().squeeze(1).numpy().astype(np.int64)))
        params = dict(params=faiss.SearchParametersIVF(sel=sel, nprobe=next(iter(indexes.values())).nprobe)
                      if kind == "ivf" else faiss.SearchParametersHNSW(sel=sel, efSearch=64) if kind == "hnsw"
                      else faiss.SearchParameters(sel=sel))
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1 if len(kv) < 64 else threads)
    try:
        for head, index in indexes.items():
            rows = (kv == head).nonzero().squeeze(1).numpy()
            dist[rows], idx[rows] = index.search(np.ascontiguousarray(q[rows]), k, **params)
    finally:
        faiss.omp_set_num_threads(threads)
    return torch.from_numpy(dist), torch.from_numpy(idx)


def torch_chunk_best(keys, chunk_of, n_chunks, queries, block=65536):
    """The chooser's late interaction, exact: for queries [R, Q, d], each one's best inner product among each chunk's
    stored keys, keys [N, d] (any float dtype) with chunk_of [N] their chunk. Returns [R, Q, n_chunks] (-inf for
    chunks without tokens). Blocks of stored tokens: [R, Q, block] at a time."""
    R, Q, _ = queries.shape
    best = torch.full((R, Q, n_chunks), float("-inf"))
    for lo in range(0, len(keys), block):
        sims = queries @ keys[lo:lo + block].float().cpu().T
        best = best.scatter_reduce(-1, chunk_of[lo:lo + block].expand_as(sims), sims, "amax")
    return best


# -----------------------------------------------------------------------------
# the chooser in a vector database: LanceDB, embedded (the engine runs in this process; the same tables serve
# LanceDB's server and cloud). Chosen over Qdrant because Qdrant's embedded mode is a pure-Python stand-in for its
# server (qdrant-client's local mode), while LanceDB's Python package is its Rust engine itself; its multivector
# search is the chooser's late interaction (each query's best match in a row's vectors, summed), exact with
# distance 'dot' on a table without an index.

def lance_table(directory, name, rows):
    """The LanceDB table `name` at directory: one row per chunk, its text number, the offset of its first token in
    that text, and its tokens' keys (a multivector). rows(newest) yields (texts [C'], offsets [C'], lengths [C'],
    keys [sum(lengths), d]) for the chunks of texts after text number `newest` (-1: all), a part of the store at a
    time: a new table takes every chunk, an existing one the chunks of texts appended since it was written."""
    import lancedb
    import pyarrow as pa
    db = lancedb.connect(str(directory))
    table = db.open_table(name) if name in db.list_tables().tables else None
    newest = -1
    if table is not None and table.count_rows():
        texts = table.search().select(["text"]).limit(table.count_rows()).to_arrow()["text"]
        newest = int(pa.compute.max(texts).as_py())
    for texts, offsets, lengths, keys in rows(newest):
        if len(texts) == 0:
            continue
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(keys.float().numpy().reshape(-1)), keys.shape[1])
        bounds = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
        batch = pa.table(dict(text=pa.array(texts, pa.int64()), first=pa.array(offsets, pa.int64()),
                              vector=pa.ListArray.from_arrays(bounds, vectors)))
        if table is None:
            table = db.create_table(name, batch)
        else:
            table.add(batch)
    return table


def lance_chunk_best(table, queries, limit, forgotten=()):
    """The chooser's late interaction in LanceDB: for each row of queries [R, Q, d], its `limit` best chunks (exact:
    'dot' multivector search without an index) and their scores, the sum over its queries of each one's best inner
    product with the chunk's keys. forgotten: text numbers never returned. Returns, per row, a list of
    (text, offset of the chunk in it, score)."""
    where = f"text NOT IN ({', '.join(map(str, sorted(forgotten)))})" if forgotten else None
    out = []
    for q in queries:
        request = table.search(q.float().numpy()).distance_type("dot").select(["text", "first", "_distance"])
        request = request.limit(limit)
        if where:
            request = request.where(where, prefilter=True)
        found = request.to_arrow()
        # LanceDB's dot distance of a multivector: the sum over the queries of 1 - their best inner product
        scores = len(q) - np.asarray(found["_distance"].to_numpy(), dtype=np.float64)
        out.append(list(zip(found["text"].to_pylist(), found["first"].to_pylist(), scores.tolist())))
    return out

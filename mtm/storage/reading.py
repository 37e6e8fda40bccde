"""
Reading memory text into a store: the unmodified model reads each text (in windows after the bookkeeping token)
and the keys and values of the chosen layers are kept. Texts are read in groups of about group_tokens stored
tokens, each group one part of the store (a segment on disk): the peak memory of reading is one group's, not the
store's. Above store.py (the data), beside disk.py (where the parts go).
"""

import itertools

import torch
from tqdm import tqdm

from mtm.loading import weights_fingerprint
from mtm.storage.store import FORMAT_VERSION, MemoryStore, MemoryStoreError, check_store

KV_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
KV_MODES = ("stored", "recompute")  # recompute: keys of the chooser's layers and token ids only (store.windows)
GROUP_TOKENS = 16384  # stored tokens per part: SmolLM2, every layer, float16: 0.4 GB


def capture_kv(model, ids, layers):
    """Run the unmodified model (retrieval off) on ids [B, T] and return {layer: (keys, values)}, each
    [B, n_head, T, d] (rotary models: pre-rotary keys). The forward stops after the last of the layers: no
    logits, no layer above it."""
    capture = {layer: None for layer in layers}
    with torch.no_grad():
        model(ids, capture=capture)
    return {layer: (k.float().cpu(), v.float().cpu()) for layer, (q, k, v) in capture.items()}


def check_kv(kv):
    if kv not in KV_MODES:
        raise MemoryStoreError(f"kv must be one of {', '.join(KV_MODES)}, got {kv!r}")
    return kv


def sentence_numbers(tokenizer, ids):
    """Each token's sentence within its text, counting from 0: a sentence ends after a token whose text ends
    in '.', '!', '?' or holds a line break."""
    ends = [(t.rstrip(" \"')").endswith((".", "!", "?")) or "\n" in t) for t in map(lambda i: tokenizer.decode([i]), ids)]
    return [0] + list(itertools.accumulate(int(e) for e in ends[:-1])) if ids else []


def memory_texts(text, one_text_per_line=False):
    """A memory text as the store reads it: the text itself, or each non-empty line its own text (one chunk each)."""
    return [line for line in text.splitlines() if line.strip()] if one_text_per_line else text


def encode_texts(tokenizer, texts):
    """Each text's token ids; an empty text: one line saying which."""
    encoded = []
    for i, text in enumerate(texts):
        ids = tokenizer.encode(text)
        if len(ids) == 0:
            which = f"memory text #{i + 1} of {len(texts)}" if len(texts) > 1 else "the memory text"
            raise MemoryStoreError(f"{which} is empty: give some text (or FILE:path to a text file)")
        encoded.append(ids)
    return encoded


def read_group(model, tokenizer, encoded, layers, prefix, kv_dtype=torch.float32, batch_size=32, bar=None,
               values=True):
    """
    Keys/values of texts (their token ids) in the given layers. Each text is read on its own (no text attends to
    another), in windows no longer than the context, each window prefixed by the bookkeeping token's ids, whose
    positions are then dropped (creation 2; creation 1: prefix = []). Windows are read batch_size at a time,
    padded on the right: causal attention keeps the padding invisible to the real tokens.
    Returns {name: tensor} of one part: 'layer{l}.keys', 'layer{l}.values' [n_head, N, d] in kv_dtype, and
    'token_ids', 'text_ids', 'sentence_ids' [N] (texts and sentences numbered from 0 within the group).
    values=False: keys only (a kv='recompute' store).
    """
    window = model.config.block_size - len(prefix)
    device = next(model.parameters()).device
    pieces, token_ids, text_ids, sentence_ids = [], [], [], []
    for i, ids in enumerate(encoded):
        pieces += [prefix + ids[s:s + window] for s in range(0, len(ids), window)]
        offset = sentence_ids[-1] + 1 if sentence_ids else 0
        token_ids += ids
        text_ids += [i] * len(ids)
        sentence_ids += [offset + s for s in sentence_numbers(tokenizer, ids)]
    first = {}  # a window's keys and values depend on its tokens alone: identical windows are read once
    for j, piece in enumerate(pieces):
        first.setdefault(tuple(piece), j)
    unique = sorted(set(first.values()), key=lambda j: len(pieces[j]))  # similar lengths together: little padding
    keys, vals = {layer: [None] * len(pieces) for layer in layers}, {layer: [None] * len(pieces) for layer in layers}
    for lo in range(0, len(unique), batch_size):
        batch = unique[lo:lo + batch_size]
        width = max(len(pieces[j]) for j in batch)
        ids = torch.tensor([pieces[j] + [0] * (width - len(pieces[j])) for j in batch], device=device)
        for layer, (k, v) in capture_kv(model, ids, layers).items():
            for row, j in enumerate(batch):
                keys[layer][j] = k[row, :, len(prefix):len(pieces[j])].to(kv_dtype)
                vals[layer][j] = v[row, :, len(prefix):len(pieces[j])].to(kv_dtype) if values else None
        if bar is not None:
            bar.update(len(batch))
    part = {}
    for what, parts in (("keys", keys), ("values", vals))[:2 if values else 1]:  # a layer at a time, then freed
        for layer in layers:
            part[f"layer{layer}.{what}"] = torch.cat([parts[layer][first[tuple(p)]] for p in pieces], dim=1).contiguous()
            parts[layer] = None
    as_tensor = lambda xs: torch.tensor(xs, dtype=torch.int64)
    return dict(part, token_ids=as_tensor(token_ids), text_ids=as_tensor(text_ids),
                sentence_ids=as_tensor(sentence_ids))


def read_parts(model, tokenizer, texts, layers, bookkeeping_token, kv_dtype="float32", progress=True,
               group_tokens=GROUP_TOKENS, text_offset=0, sentence_offset=0, kv="stored"):
    """Yields the parts of a store, each whole texts of about group_tokens stored tokens (read_group), texts and
    sentences numbered on through the parts from text_offset and sentence_offset. kv='recompute': keys only."""
    prefix = tokenizer.encode(bookkeeping_token) if bookkeeping_token else []
    window = model.config.block_size - len(prefix)
    encoded = encode_texts(tokenizer, texts)
    windows = sum(-(-len(ids) // window) for ids in encoded)
    with tqdm(total=windows, desc="reading memory text", unit="window", disable=not progress or windows < 64) as bar:
        lo = 0
        while lo < len(encoded):
            hi, n = lo, 0
            while hi < len(encoded) and (n == 0 or n + len(encoded[hi]) <= group_tokens):
                n += len(encoded[hi])
                hi += 1
            part = read_group(model, tokenizer, encoded[lo:hi], layers, prefix, KV_DTYPES[kv_dtype], bar=bar,
                              values=kv == "stored")
            part["text_ids"] += text_offset + lo
            part["sentence_ids"] += sentence_offset
            sentence_offset = int(part["sentence_ids"][-1]) + 1
            yield part
            lo = hi


def read_sink(model, tokenizer, layers, bookkeeping_token, kv_dtype="float32"):
    """Keys/values {layer: [n_head, P, d]} of the bookkeeping token read alone: what every window starts with."""
    prefix = tokenizer.encode(bookkeeping_token) if bookkeeping_token else []
    if not prefix:
        return {}, {}
    kv = capture_kv(model, torch.tensor([prefix], device=next(model.parameters()).device), layers)
    return ({layer: k[0].to(KV_DTYPES[kv_dtype]).contiguous() for layer, (k, _) in kv.items()},
            {layer: v[0].to(KV_DTYPES[kv_dtype]).contiguous() for layer, (_, v) in kv.items()})


def store_meta(model, tokenizer, texts, layers, bookkeeping_token="\n", index="flat", kv_dtype="float32", kv="stored"):
    """A new store's description (the manifest's), its settings checked: one line for each wrong one. kv='recompute':
    the store keeps the keys of `layers` (the chooser's) and the token ids; the windows texts were read in (the
    bookkeeping token's ids, the window's length) are kept so that a chosen chunk can be read again (store.windows)."""
    check_kv(kv)
    if index not in ("flat", "hnsw", "ivf"):
        raise MemoryStoreError(f"index must be 'flat', 'hnsw' or 'ivf', got {index!r}")
    if kv_dtype not in KV_DTYPES:
        raise MemoryStoreError(f"kv_dtype must be one of {', '.join(KV_DTYPES)}, got {kv_dtype!r}")
    layers = sorted(set(layers))
    if not layers:
        raise MemoryStoreError("no memory layers chosen: set knn_num (k > 0 in some layer) or layers")
    bad = [layer for layer in layers if not 0 <= layer < model.config.n_layer]
    if bad:
        raise MemoryStoreError(f"layers {bad} do not exist: the model has layers 0..{model.config.n_layer - 1}")
    if not texts:
        raise MemoryStoreError("no memory texts given")
    prefix = tokenizer.encode(bookkeeping_token) if bookkeeping_token else []
    return dict(format_version=FORMAT_VERSION, model=model.name, model_fingerprint=weights_fingerprint(model),
                layers=layers, n_head=model.config.n_kv_head, n_query_head=model.config.n_head,
                head_dim=model.config.head_dim, bookkeeping_token=bookkeeping_token, tokenizer=tokenizer.name,
                texts=list(texts), index=index, kv_dtype=kv_dtype, kv=kv, prefix_ids=prefix,
                window=model.config.block_size - len(prefix))


def sink_layers(meta, model):
    """The layers whose bookkeeping-token keys/values a store keeps: its layers, or every layer (kv='recompute':
    the chosen chunks are read again in every layer, after the sink)."""
    return meta["layers"] if meta.get("kv", "stored") == "stored" else list(range(model.config.n_layer))


def build_store(model, tokenizer, text, layers, bookkeeping_token="\n", progress=True, index="flat",
                kv_dtype="float32", kv="stored"):
    """A new store in RAM from memory text (a string, or a list of texts, each read on its own and each a chunk
    for chunk retrieval): the clean K/V of the unmodified model in `layers`. index: 'flat' (exact search: a torch
    matmul up to TORCH_SEARCH_MAX tokens, FAISS IndexFlatL2 beyond), or FAISS's approximate 'hnsw' or 'ivf', for
    stores of hundreds of thousands of tokens and more. kv: 'stored', or 'recompute' (store_meta). For a store
    larger than RAM: disk.build_on_disk."""
    texts = [text] if isinstance(text, str) else list(text)
    meta = store_meta(model, tokenizer, texts, layers, bookkeeping_token, index, kv_dtype, kv)
    parts = list(read_parts(model, tokenizer, texts, meta["layers"], bookkeeping_token, kv_dtype, progress,
                            group_tokens=float("inf"), kv=kv))
    meta["token_count"] = len(parts[0]["token_ids"])
    sink_keys, sink_values = read_sink(model, tokenizer, sink_layers(meta, model), bookkeeping_token, kv_dtype)
    return MemoryStore(meta, parts=parts, sink_keys=sink_keys, sink_values=sink_values)


def append_text(store, model, tokenizer, text, progress=True):
    """Read more memory text (a string or a list of texts) into a store (same model, layers and bookkeeping
    token), in place: a new part, in RAM (disk.save_store writes it as a new segment). Each text is a new text of
    the store: its own chunk."""
    check_store(store, model)
    texts = [text] if isinstance(text, str) else list(text)
    m = store.meta
    parts = read_parts(model, tokenizer, texts, store.layers, m["bookkeeping_token"], m.get("kv_dtype", "float32"),
                       progress, group_tokens=float("inf"), text_offset=len(m["texts"]),
                       sentence_offset=int(store.sentence_ids.max()) + 1 if len(store) else 0,
                       kv=m.get("kv", "stored"))
    store.extend(list(parts), texts)
    return store

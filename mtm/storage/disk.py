"""
A memory store on disk: a directory of append-only segments and the manifest that names them. No pickle.

    manifest.json          the store's description (reading.store_meta, less its texts), its segments in order
                           and the text numbers forgotten; replaced in one os.replace: the commit point
    seg-<id>.safetensors   one part's tensors (reading.read_group), written once and never changed
    seg-<id>.json          the part's texts and the SHA-256 of each BLOCK bytes of its tensors file; the manifest
                           holds this file's own SHA-256
    .lock                  the writers' lock (store_lock)

Building writes each part as it is read; appending writes new segments only, then the manifest; forgetting
writes the manifest only; compaction rewrites the segments that hold forgotten texts. A crash at any point leaves
the last committed store. Opening reads the manifest and the segments' JSON and maps the tensors files into
memory: a block is checked against its hash when first read (every block at once for a store of up to EAGER_BYTES),
so a damaged block is refused, with one line, before its data is used, and opening costs what is read.
"""

import hashlib
import math
import json
import os
import uuid
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from safetensors.torch import save_file

from mtm.storage.reading import GROUP_TOKENS, read_parts, read_sink, sink_layers, store_meta
from mtm.storage.store import FORMAT_VERSION, MemoryStore, MemoryStoreError, check_store

MANIFEST = "manifest.json"
BLOCK = 1 << 20  # bytes per checksummed block
EAGER_BYTES = 64 << 20  # stores up to this size are checked whole when opened
DTYPES = {"F32": (np.float32, torch.float32), "F16": (np.float16, torch.float16),
          "BF16": (np.uint16, torch.bfloat16), "I64": (np.int64, torch.int64)}
REBUILD = "rebuild it with build_memory.py"


def file_mode():
    """The mode a new file gets from the user's umask: every file of a store gets it (safetensors writes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_durably(path, write):
    """write(path), then flush the file to the disk: a rename after it commits bytes that are really there."""
    write(path)
    os.chmod(path, file_mode())
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def store_lock(path):
    """The writers' lock of the store at path (a file lock: other processes wait for it). Every write below takes
    it, so two writers at once both land. Readers need no lock: the manifest is replaced in one step."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MemoryStoreError(f"{path} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path / ".lock"))


# -----------------------------------------------------------------------------
# writing

def write_segment(path, part, texts, sink=None):
    """A new segment of one part's tensors (and the store's sink {name: tensor}); returns its manifest entry."""
    name = f"seg-{uuid.uuid4().hex[:16]}"
    tmp = path / f".{name}.tmp"
    tensors = {k: t.contiguous() for k, t in dict(part, **(sink or {})).items()}
    write_durably(tmp, lambda p: save_file(tensors, str(p)))
    blocks = []
    with open(tmp, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            blocks.append(hashlib.sha256(block).hexdigest()[:32])
    os.replace(tmp, path / f"{name}.safetensors")
    side = json.dumps(dict(texts=texts, size=(path / f"{name}.safetensors").stat().st_size, block=BLOCK,
                           blocks=blocks))
    write_durably(tmp, lambda p: p.write_text(side))
    os.replace(tmp, path / f"{name}.json")
    return dict(name=name, tokens=len(part["token_ids"]), texts=len(texts),
                json_sha256=hashlib.sha256(side.encode()).hexdigest())


def sink_tensors(sink_keys, sink_values):
    """The store's sink ({layer: [H_kv, P, d]} keys and values) as the first segment keeps it."""
    return dict({f"layer{layer}.sink_keys": t.cpu() for layer, t in sink_keys.items()},
                **{f"layer{layer}.sink_values": t.cpu() for layer, t in sink_values.items()})


def commit(path, meta, segments, forgotten=()):
    """Replace the manifest (the commit point), then delete the segments it no longer names."""
    manifest = dict({k: v for k, v in meta.items() if k != "texts"}, format_version=FORMAT_VERSION,
                    token_count=sum(s["tokens"] for s in segments), text_count=sum(s["texts"] for s in segments),
                    segments=segments, forgotten=sorted(forgotten))
    tmp = path / f".manifest-{uuid.uuid4().hex}.tmp"
    write_durably(tmp, lambda p: p.write_text(json.dumps(manifest, indent=1)))
    os.replace(tmp, path / MANIFEST)
    named = {s["name"] for s in segments}
    for old in list(path.glob("seg-*")) + list(path.glob("tensors-*.safetensors")):
        if old.name.split(".")[0] not in named:
            old.unlink()
    return manifest


def _fresh_directory(path):
    path = Path(path)
    if path.is_dir() and any(not p.name.startswith(".") for p in path.iterdir()) and not (path / MANIFEST).exists():
        raise MemoryStoreError(f"refusing to write a memory store into {path}: it is not empty and holds no store")
    return path


def save_store(store, path):
    """Write a store (in RAM, or one opened from disk and changed) to path. Segments the store was opened from
    in that directory are kept as they are; its other parts become new segments."""
    path = _fresh_directory(path)
    with store_lock(path):
        named = store.segments if store.path == path.resolve() else []  # the segments it was opened from, if here
        segments = []
        for i, part in enumerate(store.parts):
            if i < len(named) and (path / f"{named[i]['name']}.json").exists():
                segments.append(named[i])
                continue
            segments.append(write_segment(path, {k: t.cpu() for k, t in part.items()}, part_texts(store, i),
                                          sink_tensors(store.sink_keys, store.sink_values) if i == 0 else None))
        manifest = commit(path, store.meta, segments, store.forgotten)
        store.meta.update(format_version=FORMAT_VERSION, token_count=manifest["token_count"])
        store.path, store.segments = path.resolve(), segments


def part_texts(store, i):
    """The texts of part i: those its text numbers run over."""
    ids = store.parts[i]["text_ids"]
    return store.meta["texts"][int(ids.min()):int(ids.max()) + 1] if len(ids) else []


def build_on_disk(path, model, tokenizer, texts, layers, bookkeeping_token="\n", index="flat", kv_dtype="float32",
                  progress=True, group_tokens=GROUP_TOKENS, kv="stored"):
    """A new store at path, each part written as it is read: the peak memory is one part's, not the store's.
    kv='recompute': the keys of `layers` (the chooser's) and the token ids only (reading.store_meta)."""
    path = _fresh_directory(path)
    meta = store_meta(model, tokenizer, texts, layers, bookkeeping_token, index, kv_dtype, kv)
    sink_keys, sink_values = read_sink(model, tokenizer, sink_layers(meta, model), bookkeeping_token, kv_dtype)
    sink = sink_tensors(sink_keys, sink_values)
    with store_lock(path):
        segments = []
        for part in read_parts(model, tokenizer, texts, meta["layers"], bookkeeping_token, kv_dtype, progress,
                               group_tokens, kv=kv):
            first = int(part["text_ids"][0])
            segments.append(write_segment(path, part, texts[first:int(part["text_ids"][-1]) + 1],
                                          sink if not segments else None))
        commit(path, meta, segments)
    return load_store(path)


def append_on_disk(path, model, tokenizer, texts, progress=True, group_tokens=GROUP_TOKENS):
    """Read more texts into the store at path: new segments, then the manifest. Costs the new text, not the store."""
    path = Path(path)
    with store_lock(path):
        store = load_store(path)
        check_store(store, model)
        m = store.meta
        segments = list(store.segments)
        for part in read_parts(model, tokenizer, texts, store.layers, m["bookkeeping_token"], m.get("kv_dtype", "float32"),
                               progress, group_tokens, text_offset=len(m["texts"]),
                               sentence_offset=int(store.sentence_ids.max()) + 1 if len(store) else 0,
                               kv=m.get("kv", "stored")):
            first = int(part["text_ids"][0]) - len(m["texts"])
            segments.append(write_segment(path, part, texts[first:int(part["text_ids"][-1]) - len(m["texts"]) + 1]))
        commit(path, m, segments, store.forgotten)
    return load_store(path)


def forget(path, which):
    """Forget texts of the store at path: which is a list of text numbers (from 0), or a string: every text that
    holds it. Writes a new manifest only; the texts are never chosen, searched or read again, and compact()
    reclaims their space. Returns the text numbers newly forgotten."""
    path = Path(path)
    with store_lock(path):
        store = load_store(path)
        texts = store.meta["texts"]
        if isinstance(which, str):
            ids = [i for i, t in enumerate(texts) if t is not None and which in t]
            if not ids:
                raise MemoryStoreError(f"no text of memory store {path} holds {which!r}: nothing forgotten")
        else:
            ids = [int(i) for i in which]
            bad = [i for i in ids if not 0 <= i < len(texts)]
            if bad:
                raise MemoryStoreError(f"memory store {path} has texts 0..{len(texts) - 1}: no text {bad[0]}")
        new = sorted(set(ids) - store.forgotten)
        commit(path, store.meta, store.segments, store.forgotten | set(new))
    return new


def compact(path):
    """Rewrite the segments that hold forgotten texts without them (their tokens and their texts); text numbers
    stay as they were. Returns the bytes reclaimed."""
    path = Path(path)
    with store_lock(path):
        store = load_store(path)
        before = sum(f.stat().st_size for f in path.glob("seg-*"))
        segments, dead = [], store.forgotten_tokens()
        for i, entry in enumerate(store.segments):
            lo, hi = store.offsets[i], store.offsets[i + 1]
            if dead is None or not dead[lo:hi].any():
                segments.append(entry)
                continue
            keep = (~dead[lo:hi]).nonzero().squeeze(1)
            part = {name: store._read(i, name) for name in store.parts[i]}
            part = {name: t[..., keep, :] if t.dim() == 3 else t[keep] for name, t in part.items()}
            first = int(store.parts[i]["text_ids"].min())
            texts = [None if first + j in store.forgotten else t for j, t in enumerate(part_texts(store, i))]
            segments.append(write_segment(path, part, texts,
                                          sink_tensors(store.sink_keys, store.sink_values) if i == 0 else None))
        commit(path, store.meta, segments, store.forgotten)
        return before - sum(f.stat().st_size for f in path.glob("seg-*"))


# -----------------------------------------------------------------------------
# opening

def _segment(path, entry):
    """(tensors {name: tensor memory-mapped}, byte spans {name: (start, shape, itemsize)}, texts, hashes)."""
    side_file, file = path / f"{entry['name']}.json", path / f"{entry['name']}.safetensors"
    if not side_file.is_file() or not file.is_file():
        raise MemoryStoreError(f"memory store {path} is incomplete: segment {entry['name']} is missing; {REBUILD}")
    side = side_file.read_bytes()
    if hashlib.sha256(side).hexdigest() != entry["json_sha256"]:
        raise MemoryStoreError(f"memory store {path} is corrupted: {side_file.name} does not match its checksum; "
                               f"{REBUILD}")
    side = json.loads(side)
    if file.stat().st_size != side["size"]:
        raise MemoryStoreError(f"memory store {path} is corrupted: {file.name} has {file.stat().st_size} bytes, its "
                               f"checksums cover {side['size']} (truncated or changed); {REBUILD}")
    mapped = np.memmap(file, dtype=np.uint8, mode="c")  # copy-on-write: writable for torch, never written back
    bad = lambda what: MemoryStoreError(f"memory store {path} is corrupted: {file.name} {what}; {REBUILD}")
    n = int(np.frombuffer(mapped[:8], dtype="<u8")[0]) if len(mapped) >= 8 else -1
    if not 0 <= n <= len(mapped) - 8:
        raise bad("has no readable header")
    try:
        header = json.loads(bytes(mapped[8:8 + n]))
    except ValueError:
        raise bad("has no readable header")
    if not isinstance(header, dict):
        raise bad("has no readable header")
    tensors, spans, taken = {}, {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi, shape = checked_entry(name, info, len(mapped) - 8 - n, bad)
        np_dtype, torch_dtype = DTYPES[info["dtype"]]
        taken.append((lo, hi, name))
        lo, hi = 8 + n + lo, 8 + n + hi
        tensors[name] = torch.from_numpy(mapped[lo:hi].view(np_dtype).reshape(shape)).view(torch_dtype)
        spans[name] = (lo, hi, shape)
    taken.sort()
    for (_, end, a), (start, _, b) in zip(taken, taken[1:]):
        if start < end:
            raise bad(f"has tensors {a} and {b} over the same bytes")
    return tensors, spans, side, mapped


def checked_entry(name, info, data_bytes, bad):
    """A safetensors header entry's (start, end, shape), checked before any byte is read: a known dtype, a shape of
    whole numbers whose size fills exactly its byte span, inside the file's data. Else bad(what is wrong)."""
    if not isinstance(info, dict) or info.get("dtype") not in DTYPES:
        dtype = info.get("dtype") if isinstance(info, dict) else None
        raise bad(f"names dtype {dtype!r} for tensor {name!r}, not one of {', '.join(DTYPES)}")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    whole = lambda xs, k=None: (isinstance(xs, list) and (k is None or len(xs) == k) and
                                all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in xs))
    if not whole(shape) or not whole(offsets, 2):
        raise bad(f"has a malformed shape or offsets for tensor {name!r}")
    lo, hi = offsets
    if not lo <= hi <= data_bytes:
        raise bad(f"places tensor {name!r} at bytes {lo}-{hi}, outside its {data_bytes} bytes of data")
    if math.prod(shape) * DTYPES[info["dtype"]][0]().itemsize != hi - lo:
        raise bad(f"claims shape {shape} ({info['dtype']}) for tensor {name!r}, which its {hi - lo} bytes do not hold")
    return lo, hi, shape


def load_store(path):
    """Open the store at path, checking what it reads. Any problem: MemoryStoreError with one clear line."""
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise MemoryStoreError(f"no memory store at {path}: expected a directory with {MANIFEST} "
                               f"(make one with build_memory.py)")
    try:
        meta = json.loads((path / MANIFEST).read_text())
        version = meta["format_version"]
        if version == FORMAT_VERSION:
            segments = [dict(name=str(s["name"]), tokens=int(s["tokens"]), texts=int(s["texts"]),
                             json_sha256=str(s["json_sha256"])) for s in meta["segments"]]
            for s in segments:  # a plain file name in this directory, never a path out of it
                if s["name"] in ("", ".", "..") or "/" in s["name"] or "\\" in s["name"] or s["name"].startswith("."):
                    raise ValueError(f"segment name {s['name']!r} is not a file name in the store's directory")
            forgotten = set(int(i) for i in meta["forgotten"])
            for key in ("model", "model_fingerprint", "n_head", "head_dim", "bookkeeping_token", "tokenizer", "layers"):
                meta[key]
    except (ValueError, KeyError, TypeError) as e:
        raise MemoryStoreError(f"memory store {path} has a corrupted manifest ({type(e).__name__}: {e}); {REBUILD}")
    if version != FORMAT_VERSION:
        raise MemoryStoreError(f"memory store {path} has format version {version} (one tensors file), this code reads "
                               f"{FORMAT_VERSION} (append-only segments); {REBUILD}")
    if not segments:
        raise MemoryStoreError(f"memory store {path} has no segments; {REBUILD}")
    opened = [_segment(path, s) for s in segments]
    checked = [set() for _ in opened]

    def verify(i, name, rows=None):
        """Check the blocks of segment i that tensor `name` (its rows [m] of every head, or all) lies in."""
        if i >= len(opened):  # a part added in RAM since (reading.append_text)
            return
        lo, hi, shape = opened[i][1][name]
        if rows is None or len(shape) != 3:
            spans = [(lo, hi)]
        else:
            H, N, d = shape
            item = (hi - lo) // max(1, H * N * d)
            starts = lo + ((torch.arange(H)[:, None] * N + rows.cpu()[None]) * d * item).reshape(-1)
            spans = zip(starts.tolist(), (starts + d * item).tolist())
        side, mapped = opened[i][2], opened[i][3]
        size = side["block"]
        for a, b in spans:
            for block in range(a // size, (b - 1) // size + 1):
                if block in checked[i]:
                    continue
                if hashlib.sha256(mapped[block * size:(block + 1) * size]).hexdigest()[:32] != side["blocks"][block]:
                    raise MemoryStoreError(f"memory store {path} is corrupted: block {block} of "
                                           f"{segments[i]['name']}.safetensors does not match its checksum "
                                           f"(changed on disk); {REBUILD}")
                checked[i].add(block)

    parts = [{k: t for k, t in tensors.items() if "sink" not in k} for tensors, _, _, _ in opened]
    sink = {k: t for k, t in opened[0][0].items() if "sink" in k}
    meta["texts"] = [t for _, _, side, _ in opened for t in side["texts"]]
    expected = (meta["n_head"], meta["head_dim"])
    for (tensors, _, _, _), s in zip(opened, segments):
        if any(len(tensors.get(name, ())) != s["tokens"] for name in ("token_ids", "text_ids", "sentence_ids")):
            raise MemoryStoreError(f"memory store {path}: segment {s['name']}'s token, text and sentence numbers "
                                   f"do not match its {s['tokens']} tokens; {REBUILD}")
        for layer in meta["layers"]:
            for what in ("keys", "values") if meta.get("kv", "stored") == "stored" else ("keys",):
                t = tensors.get(f"layer{layer}.{what}")
                if t is None or (t.shape[0], t.shape[2]) != expected or t.shape[1] != s["tokens"]:
                    raise MemoryStoreError(f"memory store {path}: segment {s['name']} layer {layer} has shape "
                                           f"{None if t is None else tuple(t.shape)}, the manifest says "
                                           f"{(expected[0], s['tokens'], expected[1])}; {REBUILD}")
    if sum(os.path.getsize(path / f"{s['name']}.safetensors") for s in segments) <= EAGER_BYTES:
        for i, (tensors, _, _, _) in enumerate(opened):
            for name in tensors:
                verify(i, name)
    for name in sink:  # small, and read as they are (memory.py's mem_sink)
        verify(0, name)
    store = MemoryStore(meta, parts=parts, verify=verify, forgotten=forgotten,
                        sink_keys={int(k[5:].split(".")[0]): t for k, t in sink.items() if k.endswith("sink_keys")},
                        sink_values={int(k[5:].split(".")[0]): t for k, t in sink.items() if k.endswith("sink_values")})
    store.path, store.segments = path.resolve(), segments
    return store


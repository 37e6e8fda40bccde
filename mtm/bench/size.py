"""bench.py's third part: the memory's per-token overhead against the memory's size (GPT-2 shape, one memory layer,
a synthesised store: store_keys), with exact search and with an approximate FAISS index (approx_index)."""
import sys

import numpy as np
import torch

from configurator import read_text
from mtm.bench.common import method_settings, model_path, paired_steps, peak_rss_mib, table, timed, undisturbed
from mtm.entry import open_memory
from mtm.loading import load_model
from mtm.storage.store import TORCH_SEARCH_MAX, MemoryStore


def store_keys(model, n, cfg):
    """Layer store_layer's real keys and values of n random tokens, read as build_store reads text (windows
    of block_size - 1 after the bookkeeping token, at positions 1..), computed straight from the embeddings:
    that is all layer 0 sees. [n_head, n, d] each."""
    assert cfg["store_layer"] == 0, "keys of deeper layers would need the whole forward: hours for a million tokens"
    g = torch.Generator().manual_seed(cfg["seed"])
    block = model.transformer.h[0]
    C, H = model.config.n_embd, model.config.n_head
    keys, values = torch.empty(H, n, C // H), torch.empty(H, n, C // H)
    window = model.config.block_size - 1
    with torch.no_grad():
        for i in range(0, n, 1 << 16):
            m = min(1 << 16, n - i)
            ids = torch.randint(0, model.config.vocab_size, (m,), generator=g)
            pos = torch.arange(i, i + m) % window + 1
            x = block.ln_1(model.transformer.wte(ids) + model.transformer.wpe(pos))
            kv = torch.nn.functional.linear(x, block.attn.c_attn.weight[C:], block.attn.c_attn.bias[C:])
            keys[:, i:i + m] = kv[:, :C].view(m, H, C // H).transpose(0, 1)
            values[:, i:i + m] = kv[:, C:].view(m, H, C // H).transpose(0, 1)
    return keys, values


def real_queries(model, tok, cfg):
    """Layer store_layer's keys of real text (the prompt and the memory texts), per head: what the method
    searches with. Returns heads [S], queries [S, d]."""
    text = cfg["start"] + read_text(cfg["memory"]) + read_text("FILE:data/vancouver.txt")
    capture = {cfg["store_layer"]: None}
    with torch.no_grad():
        model(torch.tensor([tok.encode(text)]), capture=capture)
    k = capture[cfg["store_layer"]][1][0]  # [H, T, d]: the keys
    H, T, _ = k.shape
    return torch.arange(H).repeat_interleave(T), k.reshape(H * T, -1)


def size_rows(cfg):
    model, tok = load_model(model_path("gpt2", cfg))
    H, d, layer, knn = model.config.n_head, model.config.head_dim, cfg["store_layer"], cfg["knn"]
    mem_frac, bookkeeping_frac, new_tokens = cfg["mem_frac"], cfg["bookkeeping_frac"], cfg["size_new_tokens"]
    t_keys, (keys, values) = timed(lambda: store_keys(model, max(cfg["store_sizes"]), cfg))
    print(f"  {max(cfg['store_sizes'])} keys per head in {t_keys:.0f} s", file=sys.stderr)
    heads, queries = real_queries(model, tok, cfg)
    ids = torch.tensor([tok.prompt(cfg["start"])])

    def make_store(n, kind):
        """The first n synthesised tokens as a store of this model, read after '\\n' (as store_keys reads them)."""
        meta = dict(model=model.name, model_fingerprint=model.fingerprint, bookkeeping_token="\n", n_head=H,
                    n_query_head=H, head_dim=d, layers=[layer], index=kind, token_count=n)
        return MemoryStore(meta, {layer: keys[:, :n]}, {layer: values[:, :n]}, torch.zeros(n, dtype=torch.long))

    def overheads(stores, mf, bf, repeats):
        """Seconds per new token with memory minus without, for each store: the median over repeats of each
        step's paired difference, summed over all steps (the prompt's included) and over the new tokens' steps
        alone; and others' share of the CPUs meanwhile. The stores take turns, run by run, so that a drift of
        the machine over the minutes falls on all of them alike."""
        settings = method_settings(cfg, model.config.n_layer, [layer], mf, bf)
        mems = [open_memory(model, tok, settings, store=st, mode="cached") for st in stores]

        def run():
            steps = [[] for _ in mems]
            for _ in range(repeats):
                for i, mem in enumerate(mems):
                    steps[i].append(paired_steps(model, ids, mem, new_tokens, 1, cfg)[0])
            return steps

        _, others, steps = undisturbed(run, tries=1)
        out = []
        for st in steps:
            diff = np.median(np.array(st)[..., 1] - np.array(st)[..., 0], axis=0)
            out.append((diff.sum() / new_tokens, diff[1:].mean()))
        return out, others

    smallest = {}  # kind -> the smallest store, the reference each size is measured beside
    rows = []
    for n in cfg["store_sizes"]:
        exact = None
        for kind in ("flat", cfg["approx_index"]):  # one big index at a time: at 1M tokens each holds 1.5-3 GB
            store = make_store(n, kind)
            uses_index = kind != "flat" or n > TORCH_SEARCH_MAX
            build = timed(lambda: [store.index(layer, h) for h in range(H)])[0] if uses_index else 0.0
            search, (_, _, _, _, idx) = timed(lambda: store.search(layer, heads, queries, knn))
            exact = idx if kind == "flat" else exact
            recall = np.mean([len(set(a) & set(b)) / knn for a, b in zip(idx.tolist(), exact.tolist())])
            if kind not in smallest:
                smallest[kind] = store
                for mf, bf in ((0.0, 0.0), (mem_frac, bookkeeping_frac)):  # warm up: first calls' costs
                    overheads([store], mf, bf, 1)
            ((mf0, mf0_steps), (ref, _)), others = overheads([store, smallest[kind]], 0.0, 0.0, cfg["size_repeats"])
            ((mf5, _),), others5 = overheads([store], mem_frac, bookkeeping_frac, 1)
            backend = ("torch matmul" if not uses_index else "FAISS IndexFlatL2") if kind == "flat" else f"FAISS {kind}"
            rows.append(dict(size=n, index=f"{'exact' if kind == 'flat' else 'approximate'}: {backend}", kind=kind,
                             build=build, search_us=1e6 * search / len(queries), recall=recall, mf0=mf0,
                             mf0_steps=mf0_steps, ref_mf0=ref, mf5=mf5, others=max(others, others5)))
            print(f"  {n} tokens, {kind}: build {build:.1f} s, recall {recall:.3f}, overhead {1e3 * mf0:.2f} ms/token "
                  f"(MF 0; the smallest store beside it: {1e3 * ref:.2f}), {1e3 * mf5:.2f} (MF {mem_frac:g})",
                  file=sys.stderr)
            store = None  # freed before the next, one big index at a time (smallest[kind] keeps the first)
    return rows, t_keys, len(queries)


def run(cfg, targets, rss):
    """Measures and prints the memory-size section; adds its targets (each index at the largest store) and the
    peak RSS after it."""
    print("memory size", file=sys.stderr)
    size, t_keys, n_queries = size_rows(cfg)
    sizes, layer, mf, bf = cfg["store_sizes"], cfg["store_layer"], cfg["mem_frac"], cfg["bookkeeping_frac"]
    rss.append((f"after the memory-size rows (keys and values of {max(sizes)} tokens × 12 heads held)",
                peak_rss_mib()))
    print(f"\n### Memory overhead against memory size\n\nGPT-2 small shape, one memory layer (layer {layer}) "
          f"with its 12 heads, batch 1, cached mode, k {cfg['knn']}, TS {cfg['knn_softmax_influence']:g}, r "
          f"{cfg['resid_frac']:g}, prompt {cfg['start']!r}, {cfg['size_new_tokens']} new tokens generated side by "
          f"side without and with memory, as above. Overhead per token: the paired differences of the steps (median "
          f"over {cfg['size_repeats']} runs for MF 0, one run for MF {mf:g}), summed over all steps, the prompt's "
          f"included, over the new tokens. × at {sizes[0]}: over the overhead of the {sizes[0]}-token store with the "
          f"same index, measured beside it (the two take turns, run by run: a drift of the machine over the run's "
          f"minutes would otherwise pass for growth; in the first row of each index the store is measured beside "
          f"itself, which shows the noise). "
          f"MF 0, BF 0 searches once, for position 0 in the prompt's step (its updated value is kept); MF "
          f"{mf:g}, BF {bf:g} searches whenever a position is selected for the first time. "
          f"The store: layer {layer}'s own keys and values of uniformly random tokens, read in windows as "
          f"build_store reads text, {max(sizes)} per head (computed in {t_keys:.0f} s; a smaller store is its "
          f"first N tokens). Recall@5: the approximate index's 5 nearest against exact search, for {n_queries} "
          f"real query keys (layer {layer}'s keys of the prompt, data/cats.txt and data/vancouver.txt, "
          f"every position and head). Search: one store.search call for all of them, per query. Build: the 12 "
          f"heads' indexes (the torch matmul needs none).\n")
    table([">stored tokens per head", "index", ">build s", ">search µs/query", ">recall@5",
           ">overhead ms/token, MF 0", f">the {sizes[0]}-token store beside it", f">× at {sizes[0]}",
           ">new tokens' steps alone, ms/token", f">overhead ms/token, MF {mf:g} BF {bf:g}", ">others' CPU"],
          [[r["size"], r["index"], f"{r['build']:.1f}", f"{r['search_us']:.0f}", f"{r['recall']:.3f}",
            f"{1e3 * r['mf0']:.2f}", f"{1e3 * r['ref_mf0']:.2f}", f"{r['mf0'] / r['ref_mf0']:.2f}",
            f"{1e3 * r['mf0_steps']:.2f}", f"{1e3 * r['mf5']:.2f}", f"{100 * r['others']:.0f} %"] for r in size])
    for kind in ("flat", cfg["approx_index"]):
        last = [r for r in size if r["kind"] == kind][-1]
        ratio = last["mf0"] / last["ref_mf0"]
        approximate = kind != "flat"
        targets.append((f"cached mode, MF 0, {last['index']}: overhead at {last['size']} stored tokens / at "
                        f"{sizes[0]} (measured beside it)",
                        f"{ratio:.2f}" + (f", recall@5 {last['recall']:.3f}" if approximate else ""),
                        "≤ 2, with an approximate index of recall@5 ≥ 0.95" if approximate else "(exact: for comparison)",
                        ratio <= 2 and last["recall"] >= 0.95 if approximate else "–"))

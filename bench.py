"""
How fast generation is: tokens/s with and without memory beside transformers' generate on the same
weights, and what the memory adds per token as the context and the memory grow. Prints one markdown report; docs/performance.md holds a full run.

    python bench.py                  # the full run: about 20 minutes on 2 CPU cores
    python bench.py --quick=True     # small sizes, about 2 minutes, for development
"""
import datetime
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from configurator import configure, read_text
from memory import Memory, MemorySettings
from reading import build_store
from store import TORCH_SEARCH_MAX, MemoryStore
from generation import KVCache, generate, sample_next
from loading import load_model
from tasks.common import layers_to_knn

REPO = Path(__file__).resolve().parent

# -----------------------------------------------------------------------------
quick = False  # small sizes (replacing those below) to try the script out; its numbers are not the report's
models = ["gpt2", "smollm2", "gemma3"]  # gpt2: GPT-2-small shape with random weights; smollm2, gemma3: embedded
gpt2_dir = "out/bench-gpt2"  # where the random GPT-2-small is written (once), with GPT-2's tokenizer files
gpt2_tokenizer_dir = "../shared/gpt2-tokenizer"  # encoder.json and vocab.bpe, for tokenising offline
batch_sizes = [1, 100]
max_new_tokens = 100
start = "\nCats are horrible"  # the prompt
memory = "FILE:data/cats.txt"  # the memory text of the throughput rows
seed = 1337  # row i of a batch samples with seed + i
temperature = 0.8
top_k = 200
# the method in the throughput rows: the paper's Table 1 (Type 3, k 5, MF 5, BF 0.9, TS 0.01, r 0.33), in the layers below
exec((REPO / "config" / "paper" / "table1_setting.py").read_text())
knn = 5
gpt2_layers = [6, 7, 8]  # the paper's layers 7-9
smollm2_layers = [14, 15, 16]  # three consecutive middle layers of 30
gemma3_layers = [6, 7, 8]  # three consecutive middle layers of 18 (local ones: the sliding window applies)
# memory overhead against context length: GPT-2 shape, cached mode, MF 0 and BF 0 (position 0 alone is
# selected), gpt2_layers, batch 1; the prompt is L - context_new_tokens tokens, the steps timed reach L
context_lengths = [64, 128, 256, 512, 1024]
context_new_tokens = 16
context_repeats = 7  # overhead: the median of the paired differences of this many runs' steps
# memory overhead against memory size: GPT-2 shape, one memory layer, a synthesised store (see store_keys)
store_sizes = [1_000, 10_000, 100_000, 1_000_000]  # stored tokens per head
store_layer = 0  # layer 0: its keys of a million tokens take a minute to compute here, deeper layers hours
approx_index = "ivf"  # 'ivf' or 'hnsw' (HNSW takes about 2 minutes a head to build at 1M tokens here)
size_new_tokens = 100
size_repeats = 5  # MF 0 runs (MF 5's, far above the noise, run once)
# the recall setting (config/smollm2/recall_setting.py) on SmolLM2 with memories of many facts: the fact
# benchmark's test facts, then invented distractors; batch 100 (one fact question, seeds seed + row), cached
recall_fact_counts = [10, 1000, 10000]
recall_new_tokens = 20
recall_config = "config/smollm2/recall_setting.py"
# a memory that grows: scripts/scale.py (its stores under out/scale/, built once and kept), run by part 'scale'
scale_models = ["smollm2", "gemma3"]
scale_fact_counts = [1000, 10000]  # add 100000: about 40 minutes of reading on 2 CPU cores with kv='recompute'
scale_kv = "recompute"
parts = ["throughput", "context", "size", "recall"]  # which sections to run; 'scale' too (long)
# -----------------------------------------------------------------------------
QUICK = dict(batch_sizes=[1, 8], max_new_tokens=20, context_lengths=[64, 256],
             context_repeats=3, store_sizes=[1_000, 100_000], size_new_tokens=20, size_repeats=2,
             recall_fact_counts=[10, 100], recall_new_tokens=10)


def settings_for(n_layer, layers, mf=None, bf=None):
    return MemorySettings(layers_to_knn(layers, n_layer, knn), mem_frac if mf is None else mf,
                          bookkeeping_frac if bf is None else bf, knn_softmax_influence, False, resid_frac)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def cpu_seconds():
    """(CPU seconds the whole machine has been busy, CPU seconds of this process and its finished children)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    t = os.times()
    return ((sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"),  # all but idle and iowait
            t.user + t.system + t.children_user + t.children_system)


def undisturbed(fn, tries=2):
    """timed(fn), run again (up to `tries` times in all) if other processes took more than 5 % of the machine's
    CPU time meanwhile, as they do on a shared machine; keeps the least disturbed run. Returns (seconds,
    others' share of the CPUs during it, fn's output)."""
    best = None
    for _ in range(tries):
        machine, own = cpu_seconds()
        seconds, out = timed(fn)
        machine2, own2 = cpu_seconds()
        others = max(0.0, (machine2 - machine) - (own2 - own)) / (seconds * os.cpu_count())
        if best is None or others < best[1]:
            best = (seconds, others, out)
        if others < 0.05:
            break
    return best


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_gpt2(path):
    """A GPT-2-small-shaped model (transformers' GPT2Config defaults) with random weights, written once."""
    path = Path(path)
    if not (path / "model.safetensors").is_file():
        import shutil
        from transformers import GPT2Config, GPT2LMHeadModel
        torch.manual_seed(0)
        GPT2LMHeadModel(GPT2Config()).save_pretrained(path, safe_serialization=True)
        tok = Path(gpt2_tokenizer_dir) if Path(gpt2_tokenizer_dir).is_absolute() else REPO / gpt2_tokenizer_dir
        shutil.copy(tok / "encoder.json", path / "vocab.json")
        shutil.copy(tok / "vocab.bpe", path / "merges.txt")
    return str(path)


def model_path(name):
    if name == "gpt2":
        return make_gpt2(gpt2_dir if Path(gpt2_dir).is_absolute() else REPO / gpt2_dir)
    import embedded
    return str(embedded.converted_dir(name))


# -----------------------------------------------------------------------------
# tokens/s

def ours(model, ids, memory, n):
    gens = [torch.Generator().manual_seed(seed + i) for i in range(len(ids))]
    return generate(model, ids, n, temperature, top_k, memory, gens)


def transformers_generate(hf, ids, n):
    torch.manual_seed(seed)
    with torch.no_grad():
        return hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, top_k=top_k,
                           temperature=temperature, max_new_tokens=n, min_new_tokens=n, pad_token_id=0)


def throughput_rows(name):
    from transformers import AutoModelForCausalLM
    path = model_path(name)
    model, tok = load_model(name if name != "gpt2" else path)
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    layers = dict(gpt2=gpt2_layers, smollm2=smollm2_layers, gemma3=gemma3_layers)[name]
    settings = settings_for(model.config.n_layer, layers)
    store = build_store(model, tok, read_text(memory), layers, bookkeeping_token="<bos>" if name == "gemma3" else "\n",
                        progress=False)
    label = dict(gpt2="GPT-2 small shape, random weights", smollm2="SmolLM2-135M-Instruct", gemma3="Gemma 3 270M")[name]
    rows = []
    for B in batch_sizes:
        ids = torch.tensor([tok.prompt(start)] * B)
        runs = [("transformers `generate`", "none", lambda: transformers_generate(hf, ids, max_new_tokens))]
        for mode in (None, "exact", "cached"):
            mem = None if mode is None else Memory(store, settings, mode=mode)
            runs.append(("mtm `generate`", mode or "none", lambda mem=mem: ours(model, ids, mem, max_new_tokens)))
        for what, mode, fn in runs:
            # warm up at this batch (allocations, first-call costs), for both alike
            ours(model, ids, None, 2) if what.startswith("mtm") else transformers_generate(hf, ids, 2)
            seconds, others, out = undisturbed(fn)
            assert out.shape == (B, ids.shape[1] + max_new_tokens)
            rows.append(dict(model=label, batch=B, what=what, mode=mode, tokens=max_new_tokens, seconds=seconds,
                             tps=B * max_new_tokens / seconds, others=others))
            print(f"  {label} | batch {B} | {what} | memory {mode}: {rows[-1]['tps']:.1f} tokens/s", file=sys.stderr)
    del hf
    return rows


# -----------------------------------------------------------------------------
# per-token overhead against context length

def paired_steps(model, ids, memory, n, repeats):
    """generate's loop twice side by side, without and with memory, on the same tokens (those sampled without
    memory), each step timed in both, in alternating order, so that a slow moment of the machine falls on both
    alike. Returns seconds [repeats, n + 1, 2]: step 0 is the prompt's, then one per new token; last axis:
    without memory, with."""
    times = []
    for _ in range(repeats):
        caches = [KVCache(capacity=ids.shape[1] + n), KVCache(capacity=ids.shape[1] + n)]
        gens = [[torch.Generator().manual_seed(seed)], [torch.Generator().manual_seed(seed)]]
        x, steps = ids, []
        with torch.no_grad():
            for i in range(n + 1):
                seconds = [0.0, 0.0]
                for j in ((0, 1) if i % 2 == 0 else (1, 0)):
                    t = time.perf_counter()
                    logits = model(x, memory=memory if j else None, cache=caches[j], last_only=True)[:, -1]
                    token = sample_next(logits, temperature, top_k, gens[j])
                    seconds[j] = time.perf_counter() - t
                    if j == 0:
                        next_x = token
                x = next_x
                steps.append(seconds)
        times.append(steps)
    return np.array(times)


def context_rows():
    model, tok = load_model(model_path("gpt2"))
    settings = settings_for(model.config.n_layer, gpt2_layers, mf=0.0, bf=0.0)
    mem = Memory(build_store(model, tok, read_text(memory), gpt2_layers, progress=False), settings, mode="cached")
    text = tok.prompt(start + read_text(memory))
    paired_steps(model, torch.tensor([text[:16]]), mem, 16, 2)  # warm up: first calls' costs would fall on L = 64
    rows = []
    for L in context_lengths:
        n = min(context_new_tokens, L // 2)
        ids = torch.tensor([(text * (L // len(text) + 1))[:L - n]])
        _, others, steps = undisturbed(lambda: paired_steps(model, ids, mem, n, context_repeats), tries=1)
        steps = steps[:, 1:]  # the new tokens' steps
        rows.append(dict(context=L, plain=np.median(steps[..., 0]), overhead=np.median(steps[..., 1] - steps[..., 0]),
                         others=others))
        print(f"  context {L}: {1e3 * rows[-1]['plain']:.2f} ms/token, memory adds {1e3 * rows[-1]['overhead']:.2f}",
              file=sys.stderr)
    return rows


# -----------------------------------------------------------------------------
# per-token overhead against memory size

def store_keys(model, n):
    """Layer store_layer's real keys and values of n random tokens, read as build_store reads text (windows
    of block_size - 1 after the bookkeeping token, at positions 1..), computed straight from the embeddings:
    that is all layer 0 sees. [n_head, n, d] each."""
    assert store_layer == 0, "keys of deeper layers would need the whole forward: hours for a million tokens"
    g = torch.Generator().manual_seed(seed)
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


def real_queries(model, tok):
    """Layer store_layer's keys of real text (the prompt and the memory texts), per head: what the method
    searches with. Returns heads [S], queries [S, d]."""
    text = start + read_text(memory) + read_text("FILE:data/vancouver.txt")
    capture = {store_layer: None}
    with torch.no_grad():
        model(torch.tensor([tok.encode(text)]), capture=capture)
    k = capture[store_layer][1][0]  # [H, T, d]: the keys
    H, T, _ = k.shape
    return torch.arange(H).repeat_interleave(T), k.reshape(H * T, -1)


def size_rows():
    model, tok = load_model(model_path("gpt2"))
    H, d = model.config.n_head, model.config.head_dim
    t_keys, (keys, values) = timed(lambda: store_keys(model, max(store_sizes)))
    print(f"  {max(store_sizes)} keys per head in {t_keys:.0f} s", file=sys.stderr)
    heads, queries = real_queries(model, tok)
    ids = torch.tensor([tok.prompt(start)])

    def make_store(n, kind):
        meta = dict(n_head=H, n_query_head=H, head_dim=d, layers=[store_layer], index=kind, token_count=n)
        return MemoryStore(meta, {store_layer: keys[:, :n]}, {store_layer: values[:, :n]},
                           torch.zeros(n, dtype=torch.long))

    def overheads(stores, mf, bf, repeats):
        """Seconds per new token with memory minus without, for each store: the median over repeats of each
        step's paired difference, summed over all steps (the prompt's included) and over the new tokens' steps
        alone; and others' share of the CPUs meanwhile. The stores take turns, run by run, so that a drift of
        the machine over the minutes falls on all of them alike."""
        mems = [Memory(st, settings_for(model.config.n_layer, [store_layer], mf, bf), mode="cached") for st in stores]

        def run():
            steps = [[] for _ in mems]
            for _ in range(repeats):
                for i, mem in enumerate(mems):
                    steps[i].append(paired_steps(model, ids, mem, size_new_tokens, 1)[0])
            return steps

        _, others, steps = undisturbed(run, tries=1)
        out = []
        for st in steps:
            diff = np.median(np.array(st)[..., 1] - np.array(st)[..., 0], axis=0)
            out.append((diff.sum() / size_new_tokens, diff[1:].mean()))
        return out, others

    smallest = {}  # kind -> the smallest store, the reference each size is measured beside
    rows = []
    for n in store_sizes:
        exact = None
        for kind in ("flat", approx_index):  # one big index at a time: at 1M tokens each holds 1.5-3 GB
            store = make_store(n, kind)
            uses_index = kind != "flat" or n > TORCH_SEARCH_MAX
            build = timed(lambda: [store.index(store_layer, h) for h in range(H)])[0] if uses_index else 0.0
            search, (_, _, _, _, idx) = timed(lambda: store.search(store_layer, heads, queries, knn))
            exact = idx if kind == "flat" else exact
            recall = np.mean([len(set(a) & set(b)) / knn for a, b in zip(idx.tolist(), exact.tolist())])
            if kind not in smallest:
                smallest[kind] = store
                for mf, bf in ((0.0, 0.0), (mem_frac, bookkeeping_frac)):  # warm up: first calls' costs
                    overheads([store], mf, bf, 1)
            ((mf0, mf0_steps), (ref, _)), others = overheads([store, smallest[kind]], 0.0, 0.0, size_repeats)
            ((mf5, _),), others5 = overheads([store], mem_frac, bookkeeping_frac, 1)
            backend = ("torch matmul" if not uses_index else "FAISS IndexFlatL2") if kind == "flat" else f"FAISS {kind}"
            rows.append(dict(size=n, index=f"{'exact' if kind == 'flat' else 'approximate'}: {backend}", kind=kind,
                             build=build, search_us=1e6 * search / len(queries), recall=recall, mf0=mf0,
                             mf0_steps=mf0_steps, ref_mf0=ref, mf5=mf5, others=max(others, others5)))
            print(f"  {n} tokens, {kind}: build {build:.1f} s, recall {recall:.3f}, overhead {1e3 * mf0:.2f} ms/token "
                  f"(MF 0; the smallest store beside it: {1e3 * ref:.2f}), {1e3 * mf5:.2f} (MF {mem_frac:g})",
                  file=sys.stderr)
            del store
    return rows, t_keys, len(queries)


# -----------------------------------------------------------------------------
# the recall setting against the number of facts held

def recall_rows():
    """Per-token cost of the recall setting with memories of n facts, beside no memory, batch max(batch_sizes)."""
    import facts
    cfg = {}
    exec(compile(Path(recall_config).read_text(), recall_config, "exec"), cfg)
    settings = replace(MemorySettings.of(cfg), chunk_min_score=None, chunk_min_overlap=None)  # the cost of reading:
    # no question turned away
    model, tok = load_model("smollm2")
    test = facts.load_facts("test")
    B = max(batch_sizes)
    ids = torch.tensor([tok.prompt(test[0]["question"])] * B)
    ours(model, ids[:2], None, 2)  # warm up
    rows = []
    for n in recall_fact_counts:
        t_build, store = timed(lambda: build_store(model, tok, facts.memory_texts(test, n), settings.store_layers,
                                                   progress=False))
        mem = Memory(store, settings, mode="cached")
        for label, m in (("no memory", None), (f"{n} facts", mem)):
            seconds, others, _ = undisturbed(lambda: ours(model, ids, m, recall_new_tokens))
            rows.append(dict(n=n, what=label, tokens=len(store), build=t_build, seconds=seconds, others=others,
                             ms=1e3 * seconds / recall_new_tokens))
        del store, mem
    return rows


def table(header, rows):
    """A markdown table; header: column names, a leading '>' right-aligns the column."""
    print("| " + " | ".join(h.lstrip(">") for h in header) + " |")
    print("| " + " | ".join("---:" if h.startswith(">") else "---" for h in header) + " |")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


def main():
    configure(globals())
    if quick:
        globals().update(QUICK)
    torch.manual_seed(seed)
    began = time.time()
    print(f"`{shlex.join(['python'] + sys.argv)}`  ")
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()}), torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads, Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f} at the start"
          + ("; **quick mode: small sizes**" if quick else ""))
    targets = []  # (what, measured, target, met)
    rss = []  # (when, peak RSS of this process so far, MiB)

    rows = []
    for name in models if "throughput" in parts else []:
        print(f"throughput: {name}", file=sys.stderr)
        rows += throughput_rows(name)
        rss.append((f"after the throughput rows of {name}", peak_rss_mib()))
    tps = {(r["model"], r["batch"], r["what"].split(":")[0], r["mode"]): r["tps"] for r in rows}
    hf = {(r["model"], r["batch"]): r["tps"] for r in rows if r["what"].startswith("transformers")}
    if rows:
        mem_name = memory[5:] if memory.startswith("FILE:") else "the text given"
        print(f"\n### Tokens/s\n\nPrompt {start!r}, {max_new_tokens} new tokens, "
              f"top-k {top_k}, temperature {temperature}, sampled with seed {seed} + row. Memory: {mem_name}, Type 3, "
              f"k {knn}, MF {mem_frac:g}, BF {bookkeeping_frac:g}, TS {knn_softmax_influence:g}, r {resid_frac:g}, in "
              f"layers {gpt2_layers} (GPT-2), {smollm2_layers} (SmolLM2) and {gemma3_layers} (Gemma 3). tokens/s = batch × new tokens / wall time "
              f"of the whole call (the prompt's step included). Others' CPU: the share of the machine's CPU time that "
              f"other processes took during the row (the machine is shared); a row above 5 % was run again, once, and "
              f"the less disturbed run kept.\n")
        table(["model", ">batch", "generation", "memory mode", ">new tokens", ">seconds", ">tokens/s",
               ">× transformers, same batch", ">others' CPU"],
              [[r["model"], r["batch"], r["what"], r["mode"], r["tokens"], f"{r['seconds']:.1f}", f"{r['tps']:.1f}",
                f"{r['tps'] / hf[r['model'], r['batch']]:.2f}" if (r["model"], r["batch"]) in hf else "–",
                f"{100 * r['others']:.0f} %"] for r in rows])
    B = max(batch_sizes)
    for model in dict.fromkeys(r["model"] for r in rows):
        if (model, B) not in hf:
            continue
        short = model.split(",")[0]
        ratio = tps[model, B, "mtm `generate`", "none"] / hf[model, B]
        targets.append((f"{short}, no memory, batch {B}: × transformers", f"{ratio:.2f}", "≥ 1.0", ratio >= 1.0))
        ratio = tps[model, B, "mtm `generate`", "cached"] / hf[model, B]
        targets.append((f"{short}, cached mode, batch {B}: × transformers without memory", f"{ratio:.2f}", "≥ 0.8",
                        ratio >= 0.8))
    if "gpt2" in models and "context" in parts:
        print("context length", file=sys.stderr)
        ctx = context_rows()
        rss.append(("after the context-length rows", peak_rss_mib()))
        base = ctx[0]["overhead"]
        print(f"\n### Memory overhead against context length\n\nGPT-2 small shape, batch 1, cached mode, MF 0, BF 0 "
              f"(position 0 alone is selected), otherwise as above, in layers {gpt2_layers}. At each length L: a prompt "
              f"of L − {context_new_tokens} tokens (the prompt and the memory text, repeated), then {context_new_tokens} "
              f"new tokens, generated side by side without and with memory on the same tokens, each step timed in "
              f"both (the prompt's step not counted); {context_repeats} runs. ms/token: the median step; overhead: "
              f"the median of the steps' paired differences.\n")
        table([">context (tokens)", ">ms/token, no memory", ">overhead ms/token",
               f">overhead / overhead at {context_lengths[0]}", ">others' CPU"],
              [[r["context"], f"{1e3 * r['plain']:.2f}", f"{1e3 * r['overhead']:.2f}", f"{r['overhead'] / base:.2f}",
                f"{100 * r['others']:.0f} %"] for r in ctx])
        ratio = ctx[-1]["overhead"] / base
        targets.append((f"cached mode, MF 0: overhead at context {ctx[-1]['context']} / at {ctx[0]['context']}",
                        f"{ratio:.2f}", "≤ 1.3", ratio <= 1.3))

    if "gpt2" in models and "size" in parts:
        print("memory size", file=sys.stderr)
        size, t_keys, n_queries = size_rows()
        rss.append((f"after the memory-size rows (keys and values of {max(store_sizes)} tokens × 12 heads held)",
                    peak_rss_mib()))
        print(f"\n### Memory overhead against memory size\n\nGPT-2 small shape, one memory layer (layer {store_layer}) "
              f"with its 12 heads, batch 1, cached mode, k {knn}, TS {knn_softmax_influence:g}, r {resid_frac:g}, "
              f"prompt {start!r}, {size_new_tokens} new tokens generated side by side without and with memory, as "
              f"above. Overhead per token: the paired differences of the steps (median over {size_repeats} runs for "
              f"MF 0, one run for MF {mem_frac:g}), summed over all steps, the prompt's included, over the new tokens. "
              f"× at {store_sizes[0]}: over the overhead of the {store_sizes[0]}-token store with the same index, "
              f"measured beside it (the two take turns, run by run: a drift of the machine over the run's minutes "
              f"would otherwise pass for growth; in the first row of each index the store is measured beside "
              f"itself, which shows the noise). "
              f"MF 0, BF 0 searches once, for position 0 in the prompt's step (its updated value is kept); MF "
              f"{mem_frac:g}, BF {bookkeeping_frac:g} searches whenever a position is selected for the first time. "
              f"The store: layer {store_layer}'s own keys and values of uniformly random tokens, read in windows as "
              f"build_store reads text, {max(store_sizes)} per head (computed in {t_keys:.0f} s; a smaller store is its "
              f"first N tokens). Recall@5: the approximate index's 5 nearest against exact search, for {n_queries} "
              f"real query keys (layer {store_layer}'s keys of the prompt, data/cats.txt and data/vancouver.txt, "
              f"every position and head). Search: one store.search call for all of them, per query. Build: the 12 "
              f"heads' indexes (the torch matmul needs none).\n")
        table([">stored tokens per head", "index", ">build s", ">search µs/query", ">recall@5",
               ">overhead ms/token, MF 0", f">the {store_sizes[0]}-token store beside it", f">× at {store_sizes[0]}",
               ">new tokens' steps alone, ms/token",
               f">overhead ms/token, MF {mem_frac:g} BF {bookkeeping_frac:g}", ">others' CPU"],
              [[r["size"], r["index"], f"{r['build']:.1f}", f"{r['search_us']:.0f}", f"{r['recall']:.3f}",
                f"{1e3 * r['mf0']:.2f}", f"{1e3 * r['ref_mf0']:.2f}", f"{r['mf0'] / r['ref_mf0']:.2f}",
                f"{1e3 * r['mf0_steps']:.2f}",
                f"{1e3 * r['mf5']:.2f}", f"{100 * r['others']:.0f} %"] for r in size])
        for kind in ("flat", approx_index):
            last = [r for r in size if r["kind"] == kind][-1]
            ratio = last["mf0"] / last["ref_mf0"]
            targets.append((f"cached mode, MF 0, {last['index']}: overhead at {last['size']} stored tokens / at "
                            f"{store_sizes[0]} (measured beside it)", f"{ratio:.2f}" + (f", recall@5 {last['recall']:.3f}"
                                                                  if kind != "flat" else ""),
                            "≤ 2, with an approximate index of recall@5 ≥ 0.95" if kind != "flat" else "(exact: for comparison)",
                            ratio <= 2 and last["recall"] >= 0.95 if kind != "flat" else "–"))

    if "recall" in parts:
        print("recall setting", file=sys.stderr)
        rec = recall_rows()
        rss.append(("after the recall rows", peak_rss_mib()))
        print(f"\n### The recall setting against the facts held\n\nSmolLM2, {recall_config} (chunk retrieval) without its gate (every "
              f"question reads its chosen text: the cost of reading; a question below the gate costs the choice "
              f"alone), cached mode, batch {max(batch_sizes)}, the first test fact's question, {recall_new_tokens} new tokens, "
              f"top-k {top_k}, temperature {temperature}. The memory: the fact benchmark's test facts, then invented "
              f"distractors, up to n facts. ms/token = wall time of the whole call (the prompt's step and the choice "
              f"of the chunk included) / new tokens; each memory row is measured right after its own no-memory row.\n")
        table([">facts", ">stored tokens", ">build s", "generation", ">ms/token", ">× no memory", ">others' CPU"],
              [[r["n"], r["tokens"], f"{r['build']:.0f}", r["what"], f"{r['ms']:.1f}",
                f"{r['ms'] / rec[i - 1]['ms']:.2f}" if r["what"] != "no memory" else "–", f"{100 * r['others']:.0f} %"]
               for i, r in enumerate(rec)])
        at = [r for i, r in enumerate(rec) if r["what"] != "no memory" and r["n"] == 1000]
        if at:
            i = rec.index(at[0])
            ratio = at[0]["ms"] / rec[i - 1]["ms"]
            targets.append(("recall setting, 1000-fact memory, cached, batch 100: per-token cost × no memory",
                            f"{ratio:.2f}", "≤ 1.3", ratio <= 1.3))

    if "scale" in parts:  # one home for the scale measurement: scripts/scale.py, in its own process
        print("scale", file=sys.stderr)
        out = subprocess.run([sys.executable, str(REPO / "scripts" / "scale.py"), f"--models={json.dumps(scale_models)}",
                              f"--fact_counts={json.dumps(scale_fact_counts)}", f"--kv={scale_kv}"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"scripts/scale.py failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
        print(f"\n### A memory that grows\n\n{out.stdout}")

    print("\n### Targets\n")
    table(["target", ">measured", "wanted", "met"],
          [[t, m, w, {True: "**met**", False: "**not met**"}.get(met, met)] for t, m, w, met in targets])
    print("\n### Peak RSS\n")
    table(["when", ">peak RSS of bench.py so far, MiB"], [[w, f"{m:.0f}"] for w, m in rss])
    print(f"\nWall time of the whole run: {(time.time() - began) / 60:.1f} min. Load average at the end: "
          f"{os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[2]:.2f} (15 min); this run's two threads alone make "
          f"about 2, more means another process competed for the cores.")


if __name__ == "__main__":
    main()

"""
A memory that grows, measured: for n facts (the fact benchmark's test facts, then invented distractors: the memory
of n facts that `evaluate.py` mode facts uses, config/smollm2/eval_facts_scale.py), build the recall setting's
store (a fresh process: its wall time and peak RSS; kv='stored': every layer's keys and values, kv='recompute': the
chooser's keys and the token ids), then, with the model loaded once: open the store and make the first chunk
choice, the chooser's latency warm, append one fact, forget one, the per-token cost of the recall setting at batch
100 against no memory, and the bytes on disk. Prints a markdown table. Stores go under out/scale/ (git-ignored),
where the facts task's runs find them (stores_dir); they are kept, for reruns.

    python scripts/scale.py --models='["smollm2"]' --fact_counts='[1000,10000]' --kv=recompute
"""
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from configurator import configure, template  # noqa: E402
from memory import with_chunks  # noqa: E402
from mtm.entry import open_memory  # noqa: E402
from mtm.generation import generate  # noqa: E402
from mtm.loading import load_model, model_facts  # noqa: E402
from mtm.method.settings import MemorySettings, with_facts  # noqa: E402
from mtm.storage import disk  # noqa: E402
from mtm.tasks import fact_data as facts  # noqa: E402

# -----------------------------------------------------------------------------
models = ["smollm2", "gemma3"]
fact_counts = [1000, 10000]
kv_dtype = "float16"
kv = "stored"  # 'stored' (every layer's keys and values) or 'recompute' (the chooser's keys and token ids only)
compare_backends = True  # also the chooser on LanceDB against torch, every test question (agreement, latency)
seed = 1337  # which facts and distractors (evaluate.py's default seed: the facts task opens the same stores)
out_dir = "out/scale"
batch = 100
new_tokens = 20
# -----------------------------------------------------------------------------

BUILD = """
import json, resource, sys, time
from mtm.loading import load_model
from mtm.method.settings import MemorySettings
from mtm.storage import disk
from mtm.tasks import fact_data as facts
from mtm.tasks.facts import method_store
name, n, cfg = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
model, tok = load_model(name)
(texts, _), = facts.stores_for(facts.load_facts("test"), n, cfg["seed"])
start, t = time.time(), time.perf_counter()
store = method_store(model, tok, texts, MemorySettings.of(cfg), cfg)
print("STORE", store.path, "BUILT", int((store.path / disk.MANIFEST).stat().st_mtime >= start),
      "READ_S", time.perf_counter() - t)
print("PEAK_RSS_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build(name, n, cfg):
    """The store of n facts, as the facts task builds it (tasks.facts.method_store), in a fresh process: its path
    and its build's wall time and peak RSS (the model's loading included), kept beside it for reruns."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", BUILD, name, str(n), json.dumps(cfg)], cwd=REPO, capture_output=True,
                         text=True)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"build failed: {out.stderr.strip().splitlines()[-1]}")
    path = Path(out.stdout.split("STORE")[1].split()[0])
    rss = int(out.stdout.split("PEAK_RSS_KIB")[1].split()[0]) / 2**20  # GiB
    record = path.parent / f"{path.name}.build.json"
    if out.stdout.split("BUILT")[1].split()[0] == "1":  # built now, not opened: its build measured
        read_s = float(out.stdout.split("READ_S")[1].split()[0])  # the reading and writing, the model's loading not
        record.write_text(json.dumps(dict(seconds=seconds, peak_rss_gib=rss, read_s=read_s)))
    elif not record.is_file():
        raise SystemExit(f"{path} was built by another program, its build not measured: delete it and run again")
    return path, json.loads(record.read_text())


def memory_of(store, settings, tok, model):
    """A Memory of the store with these settings (open_memory: with the rarity and hub prompts they need)."""
    return open_memory(model, tok, settings, store=store)


def measure(name, n, model, tok, settings, cfg):
    path, built = build(name, n, cfg)
    question = torch.tensor([tok.prompt(facts.load_facts("test")[0]["question"])])
    t = time.perf_counter()
    store = disk.load_store(path)
    chosen = with_chunks(model, question, memory_of(store, settings, tok, model))
    open_s = time.perf_counter() - t
    t = time.perf_counter()
    with_chunks(model, question, memory_of(store, settings, tok, model))
    choose_s = time.perf_counter() - t
    size = sum(f.stat().st_size for f in path.iterdir() if f.name.startswith("seg-"))
    ids = question.repeat(batch, 1)
    gens = lambda: [torch.Generator().manual_seed(i) for i in range(batch)]
    generate(model, ids[:2], 2, 0.8, 200, None, gens()[:2])  # warm up
    t = time.perf_counter()
    generate(model, ids, new_tokens, 0.8, 200, None, gens())
    plain_s = time.perf_counter() - t
    t = time.perf_counter()
    ungated = replace(settings, chunk_min_score=None, chunk_min_overlap=None)  # the cost of reading: nothing turned away
    generate(model, ids, new_tokens, 0.8, 200, memory_of(store, ungated, tok, model), gens())
    mem_s = time.perf_counter() - t
    one = lambda memory: timed(lambda: generate(model, ids[:1], new_tokens, 0.8, 200, memory, gens()[:1]))
    plain1_s, mem1_s = one(None), one(memory_of(store, ungated, tok, model))
    chooser = side_by_side(store, model, tok, settings) if compare_backends else {}
    t = time.perf_counter()
    grown = disk.append_on_disk(path, model, tok, ["Zorbian moss glows a faint green in the caves of Lurr."],
                                progress=False)
    append_s = time.perf_counter() - t
    t = time.perf_counter()
    disk.forget(path, [len(grown.meta["texts"]) - 1])
    forget_s = time.perf_counter() - t
    disk.compact(path)  # the store as built, for the next run (the appended fact's segment goes)
    floor = matmul_rate(model) / flops_per_token(model, store)  # tokens/s if reading ran at the matmul rate
    rate = len(store) / built["read_s"] if "read_s" in built else float("nan")
    return dict(model=name, n=n, kv=kv, tokens=len(store), rate=rate, floor=floor, segments=len(store.segments), build_s=built["seconds"],
                rss=built["peak_rss_gib"], gib=size / 2**30, bytes_per_token=size / len(store), open_s=open_s,
                choose_ms=1e3 * choose_s, append_s=append_s, forget_s=forget_s, ratio=mem_s / plain_s,
                ratio1=mem1_s / plain1_s, chose=int(chosen.choice.chosen[0, 0]), **chooser)


def matmul_rate(model, tokens=1024, reps=20):
    """The machine's matmul rate, FLOP/s, on the model's own largest shape (a batch of tokens through the MLP's up
    projection), as torch runs it here."""
    c = model.config
    x, w = torch.randn(tokens, c.n_embd), torch.randn(c.n_embd, getattr(c, "intermediate_size", 4 * c.n_embd))
    x @ w
    seconds = timed(lambda: [x @ w for _ in range(reps)])
    return 2 * tokens * w.numel() * reps / seconds


def flops_per_token(model, store):
    """The forward's FLOPs per stored token while reading: 2 per weight of the layers it runs (up to the last one
    kept; no embedding lookup, no head) and the attention's 4 T d per head and layer over a window of T tokens (the
    mean text length: each text is read on its own)."""
    c, last = model.config, max(store.layers)
    blocks = model.model.layers if hasattr(model, "model") else model.transformer.h
    weights = sum(m.weight.numel() for block in blocks[:last + 1] for m in block.modules()
                  if isinstance(m, torch.nn.Linear))
    mean_text = len(store) / max(1, len(store.meta["texts"]))
    return 2 * weights + (last + 1) * c.n_head * 4 * mean_text / 2 * c.head_dim


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def side_by_side(store, model, tok, settings):
    """The chooser on torch (exact, keys in RAM) and on LanceDB (embedded) for every test question: the LanceDB
    table's build (first use), each backend's latency per question (warm), and how often both choose the same
    chunk."""
    questions = [torch.tensor([tok.prompt(f["question"])]) for f in facts.load_facts("test")]
    lance = replace(settings, chunk_backend="lancedb")
    table_s = timed(lambda: with_chunks(model, questions[0], memory_of(store, lance, tok, model)))
    picks, seconds = {}, {}
    for name, s in (("torch", settings), ("lancedb", lance)):
        with_chunks(model, questions[0], memory_of(store, s, tok, model))  # warm
        t = time.perf_counter()
        picks[name] = [int(with_chunks(model, q, memory_of(store, s, tok, model)).choice.chosen[0, 0]) for q in questions]
        seconds[name] = (time.perf_counter() - t) / len(questions)
    same = sum(a == b for a, b in zip(picks["torch"], picks["lancedb"])) / len(questions)
    return dict(lance_table_s=table_s, torch_ms=1e3 * seconds["torch"], lance_ms=1e3 * seconds["lancedb"],
                agreement=same, questions=len(questions))


def main():
    configure(globals())
    (REPO / out_dir).mkdir(parents=True, exist_ok=True)
    print(f"`{' '.join(['python'] + sys.argv)}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at the start, kv_dtype {kv_dtype}\n")
    rows = []
    for name in models:
        model, tok = load_model(name)
        # the recall setting, the settings it leaves None (bookkeeping token, chooser) the model's
        cfg = with_facts(template(REPO / "config" / name / "recall_setting.py"), model_facts(name))
        cfg.update(index="flat", kv_dtype=kv_dtype, kv=kv, stores_dir=str(REPO / out_dir), seed=seed)
        settings = MemorySettings.of(cfg)
        for n in fact_counts:
            rows.append(measure(name, n, model, tok, settings, cfg))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print("| model | facts | kv | stored tokens | segments | build s | read tokens/s | floor tokens/s | × floor | build peak RSS GiB | GiB on disk | bytes/token "
          "| open + first choice s | choice ms (warm) | append one s | forget one s | per token × no memory, "
          f"batch 1 | batch {batch} |")
    print("| --- | ---: | --- |" + " ---: |" * 15)
    for r in rows:
        print(f"| {r['model']} | {r['n']} | {r['kv']} | {r['tokens']} | {r['segments']} | {r['build_s']:.0f} | "
              f"{r['rate']:.0f} | {r['floor']:.0f} | {r['rate'] / r['floor']:.2f} | {r['rss']:.2f} | "
              f"{r['gib']:.2f} | {r['bytes_per_token']:.0f} | {r['open_s']:.2f} | {r['choose_ms']:.0f} | "
              f"{r['append_s']:.2f} | {r['forget_s']:.2f} | {r['ratio1']:.2f} | {r['ratio']:.2f} |")
    if compare_backends:
        print("\n| model | facts | LanceDB table build s | chooser ms, torch | chooser ms, LanceDB | same chunk chosen |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            print(f"| {r['model']} | {r['n']} | {r['lance_table_s']:.1f} | {r['torch_ms']:.0f} | {r['lance_ms']:.0f} | "
                  f"{r['agreement']:.3f} ({r['questions']} test questions) |")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""
A memory that grows, measured: for n facts (the fact benchmark's test facts, then invented distractors), build a
store of every layer with build_memory.py (a fresh process: its wall time and peak RSS), then, with the model
loaded once: open the store and make the first chunk choice, the chooser's latency warm, append one fact, forget
one, the per-token cost of the recall setting at batch 100 against no memory, and the bytes on disk.
Prints a markdown table. Stores go under out/scale/ (git-ignored); they are kept, for reruns.

    python scripts/scale.py --models='["smollm2"]' --fact_counts='[1000,10000]'
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

import disk  # noqa: E402
import facts  # noqa: E402
from configurator import configure  # noqa: E402
from generation import generate  # noqa: E402
from loading import load_model  # noqa: E402
from memory import Memory, MemorySettings, with_chunks  # noqa: E402

# -----------------------------------------------------------------------------
models = ["smollm2", "gemma3"]
fact_counts = [1000, 10000]
kv_dtype = "float16"
out_dir = "out/scale"
batch = 100
new_tokens = 20
rebuild = False  # True: build the stores again even where they exist
# -----------------------------------------------------------------------------

BUILD = """
import resource, runpy, sys
sys.argv = ["build_memory.py"] + sys.argv[1:]
runpy.run_path("build_memory.py", run_name="__main__")
print("PEAK_RSS_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build(name, n, path):
    texts = facts.memory_texts(facts.load_facts("test"), n)
    source = path.with_suffix(".txt")
    source.write_text("\n".join(texts) + "\n")
    bookkeeping = "<bos>" if name == "gemma3" else "\n"
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", BUILD, f"--init_from={name}", f"--memory=FILE:{source}",
                          "--one_text_per_line=True", "--all_layers=True", f"--kv_dtype={kv_dtype}",
                          f"--bookkeeping_token={bookkeeping}", f"--mem_store={path}"],
                         cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"build failed: {out.stderr.strip().splitlines()[-1]}")
    rss = int(out.stdout.split("PEAK_RSS_KIB")[1].split()[0]) / 2**20  # GiB
    (path / "build.json").write_text(json.dumps(dict(seconds=seconds, peak_rss_gib=rss)))


def measure(name, n, model, tok, settings):
    path = REPO / out_dir / f"{name}-{n}"
    if rebuild or not (path / "build.json").is_file():
        build(name, n, path)
    built = json.loads((path / "build.json").read_text())
    question = torch.tensor([tok.prompt(facts.load_facts("test")[0]["question"])])
    t = time.perf_counter()
    store = disk.load_store(path)
    chosen = with_chunks(model, question, Memory(store, settings))
    open_s = time.perf_counter() - t
    t = time.perf_counter()
    with_chunks(model, question, Memory(store, settings))
    choose_s = time.perf_counter() - t
    size = sum(f.stat().st_size for f in path.iterdir() if f.name.startswith("seg-"))
    ids = question.repeat(batch, 1)
    gens = lambda: [torch.Generator().manual_seed(i) for i in range(batch)]
    generate(model, ids[:2], 2, 0.8, 200, None, gens()[:2])  # warm up
    t = time.perf_counter()
    generate(model, ids, new_tokens, 0.8, 200, None, gens())
    plain_s = time.perf_counter() - t
    t = time.perf_counter()
    generate(model, ids, new_tokens, 0.8, 200, Memory(store, replace(settings, chunk_min_score=None)), gens())
    mem_s = time.perf_counter() - t
    t = time.perf_counter()
    grown = disk.append_on_disk(path, model, tok, ["Zorbian moss glows a faint green in the caves of Lurr."],
                                progress=False)
    append_s = time.perf_counter() - t
    t = time.perf_counter()
    disk.forget(path, [len(grown.meta["texts"]) - 1])
    forget_s = time.perf_counter() - t
    disk.compact(path)  # the store as built, for the next run (the appended fact's segment goes)
    return dict(model=name, n=n, tokens=len(store), segments=len(store.segments), build_s=built["seconds"],
                rss=built["peak_rss_gib"], gib=size / 2**30, bytes_per_token=size / len(store), open_s=open_s,
                choose_ms=1e3 * choose_s, append_s=append_s, forget_s=forget_s, ratio=mem_s / plain_s,
                chose=int(chosen.chosen[0, 0]))


def main():
    configure(globals())
    (REPO / out_dir).mkdir(parents=True, exist_ok=True)
    print(f"`{' '.join(['python'] + sys.argv)}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at the start, kv_dtype {kv_dtype}\n")
    rows = []
    for name in models:
        model, tok = load_model(name)
        cfg = {}
        setting = REPO / "config" / name / "recall_setting.py"
        exec(compile(setting.read_text(), str(setting), "exec"), cfg)
        settings = MemorySettings.of(cfg)
        for n in fact_counts:
            rows.append(measure(name, n, model, tok, settings))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print("| model | facts | stored tokens | segments | build s | build peak RSS GiB | GiB on disk | bytes/token "
          "| open + first choice s | choice ms (warm) | append one s | forget one s | per token × no memory, "
          f"batch {batch} |")
    print("| --- |" + " ---: |" * 12)
    for r in rows:
        print(f"| {r['model']} | {r['n']} | {r['tokens']} | {r['segments']} | {r['build_s']:.0f} | {r['rss']:.2f} | "
              f"{r['gib']:.2f} | {r['bytes_per_token']:.0f} | {r['open_s']:.2f} | {r['choose_ms']:.0f} | "
              f"{r['append_s']:.2f} | {r['forget_s']:.2f} | {r['ratio']:.2f} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

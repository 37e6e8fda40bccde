"""
Issue 17's comparison of memories on MQAR with filler (docs/mqar.md): each memory's accuracy on the test split
against the distance (16 pairs) and the number of pairs (distance 128), its parameters, training time here,
inference ms per token and the bytes it keeps per token of history. Trains what is missing first
(`python train.py config/train/train_<memory>.py`), then prints a markdown table and draws the plot.

    python scripts/memories.py
    python scripts/memories.py --retrain=True          # every training again (their times are the table's)

Memories (config/train/train_<memory>.py): 'full' and 'window' (a GPT, full or sliding-window attention);
'window_mtm': the trained window model with this project's memory added afterwards, no retraining (sliding.py:
positions enter a kNN memory as they leave the window, memory.py's retrieval_attention reads it in the last layer);
'window_mtm_trained': the same window model and memory, the memory read while training too (train.py's
architecture='window_mtm', as Memorizing Transformers train their kNN layer);
'memorizing' and 'block_recurrent' (peers.py: lucidrains' packages); 'gptm' and 'gptm_learned' (gptm.py, seed 003's
memory matrix with a fixed or a learned sketch).
"""
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mtm.trained import mqar
from configurator import configure, template  # noqa: E402
from mtm.generation import KVCache
from mtm.method.settings import MemorySettings
from model import GPT  # noqa: E402
from mtm.trained.sliding import SlidingStore, WindowMemoryGPT, forward_parallel, forward_with_memory
from train import task_name, trained_model  # noqa: E402

# -----------------------------------------------------------------------------
memories = ["full", "window", "window_mtm", "window_mtm_trained", "memorizing", "block_recurrent", "gptm",
            "gptm_learned"]
tasks = template(REPO / "config" / "train" / "grid_setting.py")["tasks"]  # [pairs, distance], trained on
examples = 64  # test examples per task (16 pairs: 1,024 queries)
mtm_knn = 32  # window_mtm: stored positions each query of the last layer reads
retrain = False
results = "out/memories/results.json"
plot = "docs/img/memories.png"
# -----------------------------------------------------------------------------

TRAINED = dict(full="full", window="window", window_mtm="window", window_mtm_trained="window_mtm",
               memorizing="memorizing", block_recurrent="block_recurrent", gptm="gptm",
               gptm_learned="gptm_learned")  # memory -> its training


def mtm_settings(n_layer):
    """The window + memory path: kNN attention in the last layer, ranked by the query's inner product."""
    return MemorySettings(knn_num=[0] * (n_layer - 1) + [mtm_knn], retrieval="attention", search="query_ip")


def logits_of(name, model, ids):
    """The whole sequence in one call; the memories in it read as position by position (tests/test_sliding.py)."""
    if name == "window_mtm":
        return forward_parallel(model, ids, mtm_settings(model.config.n_layer))
    return model(ids)  # window_mtm_trained: its forward is forward_parallel


@torch.no_grad()
def accuracy(name, model, pairs, distance):
    ids, targets = mqar.batch("test", range(examples), pairs, distance)
    logits = torch.cat([logits_of(name, model, ids[i:i + 16, :-1]) for i in range(0, examples, 16)])
    scored = targets[:, 1:] >= 0
    return float((logits[scored].argmax(-1) == targets[:, 1:][scored]).float().mean())


@torch.no_grad()
def per_token(name, model):
    """ms per token reading one test example (16 pairs, distance 512) in one call, batch 1 (window_mtm can only read
    position by position: its one call is that loop; so is window_mtm_trained's), and the bytes a batch row keeps to
    read on: the KV cache
    (all of it for full attention, the last W positions for a window), the memory's keys and values, the peers'
    states and memories (their kept_bytes)."""
    ids = mqar.example("test", 0, 16, 512)[0][None, :-1]
    T = ids.shape[1]
    reads_memory = name in ("window_mtm", "window_mtm_trained")
    model = model.gpt if isinstance(model, WindowMemoryGPT) else model
    gpt = isinstance(model, GPT)
    if gpt:
        store, cache = SlidingStore(1, model.config.n_kv_head, model.config.n_head), KVCache(capacity=T)
    start = time.perf_counter()
    if reads_memory:
        forward_with_memory(model, ids, mtm_settings(model.config.n_layer), store, cache)
    else:
        model(ids)
    ms = (time.perf_counter() - start) * 1000 / T
    if not gpt:
        return ms, model.kept_bytes / T
    if not reads_memory:  # the cache a position-by-position reader keeps (not timed)
        for t in range(T):
            model(ids[:, t:t + 1], cache=cache)
    W = model.config.window
    kept = sum(x[..., -(W or T):, :].nbytes  # what reading on needs of the cache: a window's last W positions
               for layer in range(model.config.n_layer) for x in cache.read(layer, "k", "v"))
    kept += sum(t.nbytes for d in (store.keys, store.values) for t in d.values())
    return ms, kept / T


@torch.no_grad()
def answer_ranks(model, pairs=16, distance=128):
    """Why window_mtm reads what it reads: for each query of the test split, where the position holding its answer
    (the one after the key's first occurrence, whose key the last layer must match) ranks among the positions that
    have left the window (what the memory's top-k is taken from) by that layer's q . k, in the head that ranks it
    best (0 = first). Returns the median and the share
    of queries whose answer is within the memory's top mtm_knn."""
    ids, targets = mqar.batch("test", range(examples), pairs, distance)
    capture = {model.config.n_layer - 1: None}
    model(ids[:, :-1], capture=capture)
    q, k, _ = capture[model.config.n_layer - 1]
    scores = q @ k.transpose(-1, -2)                                   # [B, H, T, T]
    ranks = []
    for b, t in (targets[:, 1:] >= 0).nonzero().tolist():
        first = int((ids[b, :t] == ids[b, t]).nonzero()[0])
        row = scores[b, :, t, :t - model.config.window + 1]            # [H, .]: those that left the window
        ranks.append(int((row > row[:, first + 1:first + 2]).sum(-1).min()))
    ranks = torch.tensor(ranks, dtype=torch.float)
    return float(ranks.median()), float((ranks < mtm_knn).float().mean())


def train(memory):
    template = REPO / "config" / "train" / f"train_{TRAINED[memory]}.py"
    print(f"training {memory}: python train.py {template.relative_to(REPO)}", flush=True)
    subprocess.run([sys.executable, "train.py", str(template), "--init_from=scratch"], cwd=REPO, check=True)


def train_seconds(out_dir):
    log = Path(out_dir) / "log.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    done = [r["train_seconds"] for r in rows if "train_seconds" in r]
    return done[-1] if done else None


def main():
    configure(globals())
    out, done = {}, set()
    for name in memories:
        out_dir = REPO / "out" / f"train_{TRAINED[name]}"
        if TRAINED[name] not in done and (retrain or not (out_dir / "ckpt.safetensors").is_file()):
            shutil.rmtree(out_dir, ignore_errors=True)  # a fresh log: its time is this training's
            train(name)
        done.add(TRAINED[name])
        model, _ = trained_model(out_dir)
        ms, kept = per_token(name, model)
        out[name] = dict(params=sum(p.numel() for p in model.parameters()), train_s=train_seconds(out_dir),
                         ms_per_token=ms, bytes_per_token=kept,
                         acc={task_name(p, d): accuracy(name, model, p, d) for p, d in tasks})
        print(name, json.dumps(out[name]), flush=True)
    Path(results).parent.mkdir(parents=True, exist_ok=True)
    print(table(out))
    for name in ("window_mtm", "window_mtm_trained"):
        if name in out:
            model, _ = trained_model(REPO / "out" / f"train_{TRAINED[name]}")
            median, within = answer_ranks(model.gpt if isinstance(model, WindowMemoryGPT) else model)
            out[name]["answer_rank"] = dict(median=median, within_knn=within)
            print(f"\n{name}, 16 pairs at distance 128: the answer's position ranks {median:.0f} (median) among the "
                  f"positions that left the window by the last layer's q . k; {within:.3f} of the queries have it in "
                  f"the top {mtm_knn}")
    Path(results).write_text(json.dumps(dict(tasks=tasks, examples=examples, mtm_knn=mtm_knn, memories=out), indent=1))
    draw(out)


def table(out):
    head = "| memory | parameters | training (s) | " + " | ".join(task_name(p, d) for p, d in tasks) + \
        " | ms / token | bytes / token of history |"
    rows = [head, "| --- " * (5 + len(tasks)) + "|"]
    for name, r in out.items():
        seconds = "-" if r["train_s"] is None else f"{r['train_s']:.0f}"  # a log of train.py before it kept it
        rows.append(f"| {name} | {r['params']:,} | {seconds} | " +
                    " | ".join(f"{r['acc'][task_name(p, d)]:.3f}" for p, d in tasks) +
                    f" | {r['ms_per_token']:.2f} | {r['bytes_per_token']:,.0f} |")
    return "\n".join(rows)


def draw(out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    by_distance = sorted(d for p, d in tasks if p == 16 and isinstance(d, int))
    by_pairs = sorted(p for p, d in tasks if d == 128)
    for name, r in out.items():
        a.plot(by_distance, [r["acc"][f"16x{d}"] for d in by_distance], "o-", label=name)
        b.plot(by_pairs, [r["acc"][f"{p}x128"] for p in by_pairs], "o-", label=name)
    for ax, xlabel, title in ((a, "distance (tokens; W = 16)", "16 pairs"), (b, "pairs", "distance 128 (8 W)")):
        ax.set_xscale("log", base=2)
        ax.axhline(1 / mqar.VALUES, color="gray", ls=":", label="chance")
        ax.set(xlabel=xlabel, ylabel="test accuracy", title=title, ylim=(0, 1.05))
    b.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("MQAR with filler: memories at one budget (python scripts/memories.py)")
    fig.tight_layout()
    fig.savefig(REPO / plot, dpi=120)
    print(f"plot: {plot}")


if __name__ == "__main__":
    main()

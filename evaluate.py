"""
Measure what a memory does: sentiment distributions and recall counts over many seeds, and sweeps
over layers and the method's parameters (the paper's experiments).

    python evaluate.py config/eval_sentiment_smollm2.py
    python evaluate.py config/eval_recall_smollm2.py --num_seeds=20

A run directory (out_dir) gets runs.jsonl (every run: point, settings, seed, text, scores),
summary.csv and summary.md (one row per point) and PNG plots. Run it again and finished points are read back,
not recomputed. Sweeps: `sweep_key` names a setting and `sweep_values` its values; the key
'layers' takes layer patterns: a string with one character per layer, '_' = off (the paper's
'______789___'), or a list of layer indices; those layers get k = `knn`.
"""
import csv
import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from configurator import ConfigError, configure, read_text
from memory import Memory, MemorySettings, MemorySettingsError, MemoryStoreError, build_store, check_store
from model import WeightsUnavailable, generate, load_model

# -----------------------------------------------------------------------------
mode = "sentiment"  # 'sentiment' (VADER over the continuation), 'recall' (does it begin with the answer),
# 'facts' (the fact benchmark of data/facts/ over memories of many facts: facts.py) or 'passkey' (passkey.py)
init_from = "smollm2"
out_dir = "out/eval"  # the run directory: results are appended, finished points skipped
start = "\nCats are horrible"  # the prompt (recall: the question), or FILE:path
memory = "FILE:data/cats.txt"  # memory text, or FILE:path
bookkeeping_token = "\n"
num_seeds = 100  # seeds seed, seed + 1, ...
seed = 1337
batch_size = 100  # seeds generated together
max_new_tokens = 100
temperature = 0.8
top_k = 200
device = "cpu"
dtype = "float32"
# the method at every point, unless the sweep changes it
knn_num = []  # k per layer
knn = 5  # k for the layers a 'layers' sweep turns on
mem_frac = 5.0
bookkeeping_frac = 0.9
knn_softmax_influence = 1.0
resid_only = False
resid_frac = 0.0
memory_mode = "exact"  # 'exact' (the paper's) or 'cached'
retrieval = "blend"  # 'blend' (the paper's Types 1-3) or 'attention' (memory entries join the softmax; docs/METHOD.md)
search = "key_l2"  # 'key_l2' (the paper's), 'query_ip', 'query_cos'
mem_threshold = -1.0  # attention: cosine below which a memory entry stays out (-1: none)
chunk_select = 0  # attention: chunks chosen per prompt (0: top-k over the whole store)
chunk_by = "text"  # 'text', 'sentence' or 'block'
chunk_size = 64  # tokens per block
chunk_layers = []  # layers whose queries score the chunks
chunk_min_score = None  # a chosen chunk is read only if its score reaches this (None: always)
mem_position = "query"  # attention: memory keys at the query's position ('query') or laid out before the context ('before')
chunk_heads = None  # chunk retrieval: which query heads of chunk_layers score the chunks (None: all)
mem_sink = True  # 'before': the bookkeeping token laid out before the chunks (the attention sink they were read after)
# what to run
baseline = True  # sentiment: also the model without memory (the recall conditions say it for recall)
sweep_key = ""  # '' = one point; a setting name ('mem_frac', 'knn_softmax_influence', ...) or 'layers'
sweep_values = []
answer = "Vancouver"  # recall: the word the continuation should begin with
one_text_per_line = False  # recall, sentiment: each non-empty line of the memory is its own text (one chunk each)
conditions = ["question", "in_context", "method"]  # recall: question only, memory text in the context, the method
substitutes = []  # recall: also replace `answer` in the memory text by each of these (paper Fig. 13)
perplexity = True  # sentiment: perplexity of each continuation under the model without memory
facts_split = "dev"  # facts: 'dev' (tune on it), 'test' (report on it) or a .jsonl path
fact_counts = [1, 10, 100, 1000]  # facts: memories of n facts (the benchmark's, then invented distractors)
num_facts = 0  # facts: use only the first num_facts of the split (0: all)
all_in_context_max_tokens = 100000  # facts: all_in_context only while the n paragraphs fit this (and the window)
sample_facts = 0  # facts: sample (num_seeds continuations) for the first sample_facts facts only (0: all);
# every fact gets the teacher-forced scores, one forward pass each
index = "flat"  # facts: the store's index ('flat', 'ivf', 'hnsw')
passkey_lengths = [1024, 4096, 16384, 65536]  # passkey: haystack lengths in tokens
passkey_trials = 20  # passkey: trials per length (a new key at a new depth each)
context_trials = 20  # passkey: of these, how many also run with the haystack in the context (slow on a CPU)
plain_text = "FILE:data/plain.txt"  # facts: text unrelated to the facts, whose perplexity with and without the
# memory is compared ('' = skip)
wandb_log = False  # log each point's summary to Weights & Biases (WANDB_MODE=offline works)
wandb_project = "mtm"
title = ""  # plot title
# -----------------------------------------------------------------------------
METHOD_KEYS = ("knn_num", "mem_frac", "bookkeeping_frac", "knn_softmax_influence", "resid_only", "resid_frac",
               "memory_mode", "retrieval", "search", "mem_threshold", "chunk_select", "chunk_by", "chunk_size",
               "chunk_layers", "mem_position", "chunk_min_score", "mem_sink", "chunk_heads")
SETTING_KEYS = tuple(k for k in METHOD_KEYS if k != "memory_mode")  # MemorySettings' fields (the mode is Memory's)


def method_settings(cfg):
    """MemorySettings from a config's (or a point's) method keys, checked."""
    return MemorySettings(**{k: cfg[k] for k in SETTING_KEYS if k in cfg}).check()


def layers_to_knn(pattern, n_layer, k):
    """'______789___' or [6, 7, 8] -> knn_num with k in those layers."""
    if isinstance(pattern, str):
        if len(pattern) != n_layer:
            raise ConfigError(f"layer pattern {pattern!r} has {len(pattern)} characters, the model {n_layer} layers")
        on = [i for i, c in enumerate(pattern) if c != "_"]
    else:
        on = list(pattern)
    if any(not 0 <= i < n_layer for i in on):
        raise ConfigError(f"layers {on}: the model has layers 0..{n_layer - 1}")
    return [k if i in on else 0 for i in range(n_layer)]


def layer_label(knn_list):
    """[0, 5, 5, 0, 5] -> 'layers 1-2,4' (0-based indices, consecutive ones as ranges)."""
    on = [i for i, k in enumerate(knn_list) if k > 0]
    runs = []
    for i in on:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return "layers " + (",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs) or "none")


def expand_points(cfg, n_layer):
    """The points to run: each a dict with a name, a condition and the settings it uses."""
    method = {key: cfg[key] for key in METHOD_KEYS}
    method["knn_num"] = list(method["knn_num"])
    sweep = [(None, {})] if not cfg["sweep_key"] else []
    for value in cfg["sweep_values"] if cfg["sweep_key"] else []:
        if cfg["sweep_key"] == "layers":
            knn_list = layers_to_knn(value, n_layer, cfg["knn"])
            sweep.append((layer_label(knn_list), {"knn_num": knn_list}))
        elif cfg["sweep_key"] == "knn_num" and len({k for k in value if k > 0}) == 1:  # the same k in each layer
            sweep.append((f"k={max(value)}", {"knn_num": list(value)}))
        elif cfg["sweep_key"] in METHOD_KEYS:
            sweep.append((f"{cfg['sweep_key']}={value}", {cfg["sweep_key"]: value}))
        else:
            raise ConfigError(f"sweep_key must be 'layers' or one of {', '.join(METHOD_KEYS)}, got {cfg['sweep_key']!r}")
    points = []
    if cfg["mode"] == "sentiment":
        if cfg["baseline"]:
            points.append(dict(name="no memory", condition="no_memory", method=None, memory_text=None))
        for label, change in sweep:
            points.append(dict(name=label or "memory", condition="method", method=dict(method, **change),
                               memory_text=cfg["memory"]))
    elif cfg["mode"] == "recall":
        texts = [(None, cfg["memory"])] + [(s, cfg["memory"].replace(cfg["answer"], s)) for s in cfg["substitutes"]]
        for sub, text in texts:
            tag = f" [{cfg['answer']}->{sub}]" if sub else ""
            if "question" in cfg["conditions"] and sub is None:
                points.append(dict(name="question only", condition="question", method=None, memory_text=None))
            if "in_context" in cfg["conditions"]:
                points.append(dict(name="in context" + tag, condition="in_context", method=None, memory_text=text,
                                   substitute=sub))
            if "method" in cfg["conditions"]:
                for label, change in sweep:
                    points.append(dict(name=(label or "method") + tag, condition="method",
                                       method=dict(method, **change), memory_text=text, substitute=sub))
    else:
        raise ConfigError(f"mode must be 'sentiment' or 'recall', got {cfg['mode']!r}")
    for p in points:  # what identifies a finished point when a run is resumed
        key = {k: cfg[k] for k in ("init_from", "start", "max_new_tokens", "temperature", "top_k", "bookkeeping_token",
                                          "one_text_per_line")}
        p["key"] = hashlib.sha256(json.dumps([p["condition"], p["method"], p["memory_text"], key],
                                             sort_keys=True).encode()).hexdigest()[:16]
    return points


# -----------------------------------------------------------------------------
# scores

_vader = None


def vader(text):
    global _vader
    if _vader is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        _vader = SentimentIntensityAnalyzer()
    return _vader.polarity_scores(text)  # neg, neu, pos, compound


def distinct_n(ids, n):
    """Distinct n-grams over all n-grams of a continuation (1.0: no repetition)."""
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def begins_with(text, word):
    """Recall: the continuation's first word is the answer (leading spaces, quotes and colons ignored)."""
    return text.lstrip(" \t\n\"'“:*").startswith(word)


@torch.no_grad()
def perplexities(model, prompt_len, ids, rows=10):
    """Perplexity of each row's continuation (ids[:, prompt_len:]) under the model without memory.
    A few rows at a time: the logits of 100 rows x 100 tokens x 49k words would take gigabytes."""
    out = []
    for chunk in ids.split(rows):
        logits = model(chunk[:, :-1]).float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), chunk[:, 1:], reduction="none")
        out += nll[:, prompt_len - 1:].mean(dim=1).exp().tolist()
    return out


def quantile(xs, q):
    return float(torch.quantile(torch.tensor(xs, dtype=torch.float64), q)) if xs else float("nan")


def summarize(point, runs):
    row = dict(point=point["name"], condition=point["condition"], n=len(runs))
    if runs and "compound" in runs[0]["scores"]:
        c = [r["scores"]["compound"] for r in runs]
        row.update(compound_median=quantile(c, 0.5), compound_iqr=quantile(c, 0.75) - quantile(c, 0.25),
                   compound_mean=sum(c) / len(c))
        for key in ("pos", "neu", "neg"):
            row[f"{key}_median"] = quantile([r["scores"][key] for r in runs], 0.5)
        for key in ("distinct_2", "distinct_3", "perplexity"):
            vals = [r["scores"][key] for r in runs if r["scores"].get(key) is not None]
            row[f"{key}_mean"] = sum(vals) / len(vals) if vals else None
    if runs and "hit" in runs[0]["scores"]:
        row["hits"] = sum(r["scores"]["hit"] for r in runs)
        row["original_hits"] = sum(r["scores"].get("original_hit", 0) for r in runs)
        row["mentions"] = sum(r["scores"]["mentions"] for r in runs)  # the answer anywhere in the continuation
    shares = runs[0].get("touched_share") if runs else None
    if shares:
        row["touched_share"] = json.dumps({int(k): round(v, 5) for k, v in shares.items()})
    return row


# -----------------------------------------------------------------------------
# running one point

def run_point(point, cfg, model, tokenizer, seeds):
    context = point["memory_text"] if point["condition"] == "in_context" else ""
    prompt = tokenizer.prompt(context) + tokenizer.encode(read_text(cfg["start"]))
    mem = None
    if point["condition"] == "method":
        m = point["method"]
        settings = method_settings(m)
        text = point["memory_text"]
        texts = [line for line in text.splitlines() if line.strip()] if cfg["one_text_per_line"] else text
        store = build_store(model, tokenizer, texts, settings.store_layers, cfg["bookkeeping_token"], progress=False)
        check_store(store, model, settings)
        mem = Memory(store.to(cfg["device"]), settings, mode=m["memory_mode"], stats={})
    runs = []
    for lo in range(0, len(seeds), cfg["batch_size"]):
        batch = seeds[lo:lo + cfg["batch_size"]]
        x = torch.tensor([prompt] * len(batch), device=cfg["device"])
        gens = [torch.Generator(device=cfg["device"]).manual_seed(s) for s in batch]
        y = generate(model, x, cfg["max_new_tokens"], cfg["temperature"], cfg["top_k"] or None, mem, gens)
        ppl = perplexities(model, len(prompt), y) if cfg["mode"] == "sentiment" and cfg["perplexity"] else None
        for i, s in enumerate(batch):
            ids = y[i, len(prompt):].tolist()
            text = tokenizer.decode(ids)
            if cfg["mode"] == "sentiment":
                scores = dict(vader(text), distinct_2=distinct_n(ids, 2), distinct_3=distinct_n(ids, 3),
                              perplexity=ppl[i] if ppl else None)
            else:
                target = point.get("substitute") or cfg["answer"]
                scores = dict(hit=begins_with(text, target), original_hit=begins_with(text, cfg["answer"]),
                              mentions=target in text)
            runs.append(dict(point=point["name"], key=point["key"], condition=point["condition"],
                             method=point["method"], seed=s, text=text, scores=scores))
    if mem is not None:  # share of the layer's token-heads the method changed, over all steps (paper Fig. 4)
        share = {layer: sel / total for layer, (sel, total) in mem.stats.items()}
        for r in runs:
            r["touched_share"] = share
    return runs


def markdown_table(rows):
    """The summary as a markdown table, for pasting into docs as the program printed it."""
    def cell(key, value):
        if key == "touched_share":
            share = [100 * v for v in json.loads(value).values()] if value else []
            if not share:
                return ""
            low, high = min(share), max(share)
            return f"{low:.2f}" if low == high else f"{low:.2f}-{high:.2f}"
        return f"{value:.3f}" if isinstance(value, float) else "" if value is None else str(value)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    head = [k if k != "touched_share" else "token-heads changed per memory layer (%)" for k in keys]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(cell(k, r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# -----------------------------------------------------------------------------
# plots

def plot(rows, runs_by_point, cfg, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [r["point"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names) + 2), 4.5))
    if cfg["mode"] == "sentiment":
        data = [[r["scores"]["compound"] for r in runs_by_point[n]] for n in names]
        ax.boxplot(data, showfliers=True)
        ax.set_ylabel("VADER compound of the continuation")
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="grey", lw=0.5)
    else:
        hits = [r["hits"] for r in rows]
        bars = ax.bar(range(1, len(names) + 1), hits, color="tab:blue")
        ax.bar_label(bars)
        ax.set_ylabel(f"runs beginning with the answer (of {rows[0]['n']})")
    ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
    ax.set_title(cfg["title"] or f"{cfg['mode']}: {cfg['init_from']}, {rows[0]['n']} seeds x {cfg['max_new_tokens']} tokens")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_touched(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in rows if r.get("touched_share")]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        share = {int(k): v for k, v in json.loads(r["touched_share"]).items()}
        ax.plot(sorted(share), [100 * share[k] for k in sorted(share)], "o-", label=r["point"])
    ax.set_xlabel("layer (0-based)")
    ax.set_ylabel("token-heads changed by the method (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -----------------------------------------------------------------------------

def main():
    cfg = configure(globals(), skip=("num_seeds",))
    if cfg["num_seeds"] < (0 if cfg["mode"] == "facts" else 1):  # facts: 0 = teacher-forced scores only
        raise ConfigError(f"num_seeds = {cfg['num_seeds']}: must be >= {0 if cfg['mode'] == 'facts' else 1}"
                          f"{' (0 only in facts mode: teacher-forced scores alone)' if cfg['mode'] != 'facts' else ''}")
    if cfg["sweep_key"] or cfg["mode"] in ("sentiment", "recall"):
        method_settings(dict(cfg, knn_num=cfg["knn_num"] or [0]))  # the method's settings, before any model loads
    cfg["memory"] = read_text(cfg["memory"])
    if not cfg["memory"].strip() and (cfg["mode"] == "recall" or cfg["sweep_key"] or cfg["knn_num"]):
        raise ConfigError("memory is empty")
    if mode == "facts":
        return main_facts(cfg)
    if mode == "passkey":
        return main_passkey(cfg)
    model, tokenizer = load_model(init_from, device, dtype)
    points = expand_points(cfg, model.config.n_layer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    done = {}
    if runs_file.exists():  # resume: keep the points that are complete
        for line in runs_file.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done.setdefault(r["key"], []).append(r)
    seeds = [seed + i for i in range(num_seeds)]
    wb = None
    if wandb_log:
        import wandb
        wb = wandb.init(project=wandb_project, config=cfg, dir=str(out))
    from tqdm import tqdm
    rows, runs_by_point = [], {}
    for point in tqdm(points, desc=f"{mode} points", unit="point"):
        have = {r["seed"]: r for r in done.get(point["key"], [])}
        if all(s in have for s in seeds):
            runs = [have[s] for s in seeds]
        else:
            runs = run_point(point, cfg, model, tokenizer, seeds)
            with open(runs_file, "a") as f:
                for r in runs:
                    f.write(json.dumps(r) + "\n")
        runs_by_point[point["name"]] = runs
        rows.append(summarize(point, runs))
        tqdm.write(" | ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()
                              if k != "touched_share"))
        if wb is not None:
            wb.log({k: v for k, v in rows[-1].items() if isinstance(v, (int, float))} | {"point": point["name"]})
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.md").write_text(markdown_table(rows))
    plot(rows, runs_by_point, cfg, out / f"{mode}.png")
    plot_touched(rows, out / "touched_share.png")
    if wb is not None:
        wb.finish()
    print(f"wrote {runs_file}, {out / 'summary.csv'}, {out / f'{mode}.png'}")


def main_facts(cfg):
    """Mode 'facts': the benchmark of data/facts/ (facts.py), one record per (n, condition, fact) in runs.jsonl."""
    import facts
    unknown = [c for c in cfg["conditions"] if c not in facts.CONDITIONS]
    if unknown or not cfg["fact_counts"] or any(n < 1 for n in cfg["fact_counts"]):
        raise ConfigError(f"facts mode: conditions must be among {', '.join(facts.CONDITIONS)} (got {unknown}) "
                          f"and fact_counts a list of counts >= 1 (got {cfg['fact_counts']})")
    settings = method_settings(cfg)
    cfg["plain_text"] = read_text(cfg["plain_text"])
    if "method" in cfg["conditions"] and not settings.layers:
        raise ConfigError("the 'method' condition needs knn_num with k > 0 in some layer")
    try:
        facts.load_facts(cfg["facts_split"])
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(str(e))
    model, tokenizer = load_model(init_from, device, dtype)
    if len(cfg["knn_num"]) != model.config.n_layer and "method" in cfg["conditions"]:
        raise ConfigError(f"knn_num has {len(cfg['knn_num'])} entries, the model {model.config.n_layer} layers")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    done = {}
    if runs_file.exists():
        for line in runs_file.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[r["key"]] = r
    from tqdm import tqdm
    records = []
    with open(runs_file, "a") as f, tqdm(desc="facts", unit="fact") as bar:
        for r in facts.evaluate_facts(cfg, model, tokenizer, settings, done):
            if r["key"] not in done:
                f.write(json.dumps(r) + "\n")
                f.flush()
            records.append(r)
            bar.update()
            bar.set_postfix(n=r["n"], condition=r["condition"])
    rows = facts.summarize_facts(records, cfg)
    for row in rows:
        print(" | ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.md").write_text(markdown_table(rows))
    facts.plot_facts(rows, out / "facts.png", cfg["title"] or f"facts ({cfg['facts_split']}): {cfg['init_from']}, "
                                                           f"{cfg['num_seeds']} seeds per fact")
    print(f"wrote {runs_file}, {out / 'summary.csv'}, {out / 'facts.png'}")


def main_passkey(cfg):
    """Mode 'passkey': greedy passkey retrieval with the haystack in memory and, while it fits, in the context."""
    import passkey
    settings = method_settings(cfg)
    if "method" in cfg["conditions"] and not settings.chunk_select:
        raise ConfigError("passkey mode runs the method with chunk retrieval: set chunk_select and chunk_layers")
    model, tokenizer = load_model(init_from, device, dtype)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm
    records = list(tqdm(passkey.run_passkey(cfg, model, tokenizer, settings), desc="passkey", unit="trial"))
    (out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    rows = []
    for n in cfg["passkey_lengths"]:
        for condition in cfg["conditions"]:
            rs = [r for r in records if r["n_tokens"] == n and r["condition"] == condition]
            if rs:
                rows.append(dict(haystack_tokens=n, condition=condition, trials=len(rs), hits=sum(r["hit"] for r in rs),
                                 rate=sum(r["hit"] for r in rs) / len(rs), example=rs[0]["text"][:30]))
    for row in rows:
        print(" | ".join(f"{k}={v}" for k, v in row.items()))
    (out / "summary.md").write_text(markdown_table(rows))
    print(f"wrote {out / 'runs.jsonl'}, {out / 'summary.md'}")


if __name__ == "__main__":
    try:
        main()
    except (ConfigError, MemoryStoreError, MemorySettingsError, WeightsUnavailable) as e:
        sys.exit(f"error: {e}")

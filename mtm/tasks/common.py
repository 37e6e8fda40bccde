"""What the generation tasks (sentiment, recall) share: sweep points, sampling a point over seeds, resuming."""
import hashlib
import itertools
import json

import torch

from configurator import ConfigError, read_text
from mtm.generation import generate
from mtm.method.settings import SETTINGS, MemorySettings
from mtm.entry import open_memory


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
    runs = [[i for _, i in run] for _, run in itertools.groupby(enumerate(on), lambda x: x[1] - x[0])]  # consecutive
    return "layers " + (",".join(f"{r[0]}" if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs) or "none")


def sweep(cfg, n_layer):
    """The method's settings at each sweep point: [(label or None, settings dict)]. sweep_key names a method
    setting, or 'layers' (layer patterns, those layers get k = knn)."""
    method = {key: cfg[key] for key in SETTINGS}
    method["knn_num"] = list(method["knn_num"])
    key = cfg["sweep_key"]
    if not key:
        return [(None, method)]
    points = []
    for value in cfg["sweep_values"]:
        if key == "layers":
            knn_list = layers_to_knn(value, n_layer, cfg["knn"])
            points.append((layer_label(knn_list), dict(method, knn_num=knn_list)))
        elif key == "knn_num" and len({k for k in value if k > 0}) == 1:  # the same k in each layer
            points.append((f"k={max(value)}", dict(method, knn_num=list(value))))
        elif key in SETTINGS:
            points.append((f"{key}={value}", dict(method, **{key: value})))
        else:
            raise ConfigError(f"sweep_key must be 'layers' or one of {', '.join(SETTINGS)}, got {key!r}")
    return points


def with_keys(points, cfg):
    """Each point's key: what identifies its finished runs when a run directory is resumed."""
    run = {k: cfg[k] for k in ("init_from", "start", "max_new_tokens", "temperature", "top_k", "bookkeeping_token",
                               "one_text_per_line")}
    for p in points:
        p["key"] = digest([p["condition"], p["method"], p["memory_text"], run], 16)
    return points


def digest(obj, n=12):
    """A short hash of settings (JSON, keys sorted): the part of a record key that says what was run."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def sample_seeds(model, tokenizer, prompt, memory, seeds, cfg):
    """One continuation of the prompt ids per seed, in one batch: (ids [len(seeds), T'], the new text of each)."""
    x = torch.tensor([prompt] * len(seeds), device=cfg["device"])
    gens = [torch.Generator(device=cfg["device"]).manual_seed(s) for s in seeds]
    y = generate(model, x, cfg["max_new_tokens"], cfg["temperature"], cfg["top_k"] or None, memory, gens)
    return y, [tokenizer.decode(row[len(prompt):].tolist()) for row in y]


def first_word_hit(text, word):
    """Recall: the continuation's first word is the answer (leading spaces, quotes and colons ignored)."""
    return text.lstrip(" \t\n\"'“:*").startswith(word)


def sample_point(point, cfg, model, tokenizer, done, score):
    """Yields the point's records, one per seed (seed, seed + 1, ...): read back from done when every seed is
    there, else generated, batch_size seeds at a time. score(texts, ids, prompt_len, y) -> one scores dict each."""
    seeds = [cfg["seed"] + i for i in range(cfg["num_seeds"])]
    keys = [f"{point['key']}|{s}" for s in seeds]
    if all(k in done for k in keys):
        yield from (done[k] for k in keys)
        return
    context = point["memory_text"] if point["condition"] == "in_context" else ""
    prompt = tokenizer.prompt(context) + tokenizer.encode(read_text(cfg["start"]))
    mem = None
    if point["condition"] == "method":
        mem = open_memory(model, tokenizer, MemorySettings.of(point["method"]), texts=point["memory_text"],
                          one_text_per_line=cfg["one_text_per_line"], kv_dtype="float32", device=cfg["device"],
                          stats={})
    runs = []
    for lo in range(0, len(seeds), cfg["batch_size"]):
        batch = seeds[lo:lo + cfg["batch_size"]]
        y, texts = sample_seeds(model, tokenizer, prompt, mem, batch, cfg)
        for s, text, scores in zip(batch, texts, score(texts, y, len(prompt))):
            runs.append(dict(point=point["name"], key=f"{point['key']}|{s}", condition=point["condition"],
                             method=point["method"], seed=s, text=text, scores=scores))
    if mem is not None:  # share of the layer's token-heads the method changed, over all steps (paper Fig. 4)
        share = {layer: sel / total for layer, (sel, total) in mem.stats.items()}
        for r in runs:
            r["touched_share"] = share
    yield from runs


def by_point(records):
    """{point name: its records}, in the order the points ran."""
    out = {}
    for r in records:
        out.setdefault(r["point"], []).append(r)
    return out


def touched_row(runs):
    shares = runs[0].get("touched_share") if runs else None
    return dict(touched_share=json.dumps({int(k): round(v, 5) for k, v in shares.items()})) if shares else {}


def pyplot():
    """matplotlib's pyplot, drawing to files only (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_touched(rows, path):
    """Per layer, the share of token-heads the method changed (paper Fig. 4), one line per point."""
    plt = pyplot()
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
    save(plt, fig, path)


def plot_points(names, draw, ylabel, title, path):
    """One column per point (draw(ax) draws them at x = 1, 2, ...), the points' names below."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names) + 2), 4.5))
    draw(ax)
    ax.set_ylabel(ylabel)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
    ax.set_title(title)
    save(plt, fig, path)


def plot_rates(rows, x, y, xlabel, ylabel, title, path):
    """A rate (rows' y, 0..1) against rows' x on a log scale, one line per condition."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for condition in dict.fromkeys(r["condition"] for r in rows):
        pts = [(r[x], r[y]) for r in rows if r["condition"] == condition]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=condition.replace("_", " "))
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    save(plt, fig, path)

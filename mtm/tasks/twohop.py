"""
The two-hop set (data/twohop/, made by data/twohop/prepare.py) as an evaluation task (`evaluate.py` mode 'twohop'):
questions whose answer needs two stored facts, the first naming the person and the town (the bridge), the second
the town and the answer; the question names the person only. Conditions: the question alone; both facts in the
context (first, then second); the method over a memory holding every fact of the split (two texts per question),
choosing chunk_select texts, each read only where it passes the relevance check. Teacher-forced top-1 and answer
log p, greedy and sampled first-word hits, and which of the two facts the method read.
"""
import json
from pathlib import Path

import torch

from configurator import ConfigError
from mtm.tasks.fact_data import answer_ids, answer_score
from mtm.generation import generate
from memory import with_chunks
from mtm.method.settings import MemorySettings, Setting
from mtm.entry import open_memory
from mtm.tasks.common import digest, first_word_hit, pyplot, sample_seeds, save

TWOHOP_DIR = Path(__file__).resolve().parents[2] / "data" / "twohop"
KEYS = ("kind", "first", "second", "question", "answer", "bridge")
CONDITIONS = ("question", "in_context", "method")

SETTINGS = dict(
    twohop_split=Setting("dev", None, "'dev' (tune on it), 'test' (report on it) or a .jsonl path"),
)


def load_twohop(split):
    path = Path(split) if str(split).endswith(".jsonl") else TWOHOP_DIR / f"{split}.jsonl"
    if not path.is_file():
        raise ConfigError(f"no two-hop file {path}: use split 'dev' or 'test', or a .jsonl path")
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for n, item in enumerate(items, 1):
        missing = [k for k in KEYS if not isinstance(item.get(k), str) or not item[k]]
        if missing:
            raise ConfigError(f"{path}:{n}: a two-hop question needs the text fields {', '.join(KEYS)}; "
                              f"missing {missing}")
    return items


def check(cfg):
    unknown = [c for c in cfg["conditions"] if c not in CONDITIONS]
    if unknown:
        raise ConfigError(f"twohop mode: conditions must be among {', '.join(CONDITIONS)} (got {unknown})")
    if "method" in cfg["conditions"] and not MemorySettings.of(cfg).chunk_select:
        raise ConfigError("twohop mode runs the method with chunk retrieval: set chunk_select (2: both facts)")
    load_twohop(cfg["twohop_split"])


def run(cfg, model, tokenizer, done):
    settings = MemorySettings.of(cfg)
    items = load_twohop(cfg["twohop_split"])
    texts = [t for item in items for t in (item["first"], item["second"])]  # text 2i: item i's first fact
    run_key = digest([cfg.get(k) for k in ("init_from", "twohop_split", "num_seeds", "seed", "max_new_tokens",
                                           "temperature", "top_k", "bookkeeping_token")])
    memory = None
    for condition in cfg["conditions"]:
        key_of = lambda i: f"{run_key}|{digest(vars(settings)) if condition == 'method' else ''}|{condition}|{i}"
        todo = [i for i in range(len(items)) if key_of(i) not in done]
        yield from (done[key_of(i)] for i in range(len(items)) if key_of(i) in done)
        if condition == "method" and todo and memory is None:
            memory = open_memory(model, tokenizer, settings, texts=texts, kv_dtype="float32", device=cfg["device"])
        for i in todo:
            item = items[i]
            before = f"{item['first']} {item['second']}" if condition == "in_context" else ""
            ids = tokenizer.prompt(before + item["question"])
            x = torch.tensor([ids], device=cfg["device"])
            mem = with_chunks(model, x, memory) if condition == "method" else None
            target = answer_ids(tokenizer, item["question"], item["answer"])
            s = answer_score(model, ids, target, mem)
            record = dict(key=key_of(i), condition=condition, question=item["question"], answer=item["answer"],
                          kind=item["kind"], rank=s["rank"], first_logp=s["first_logp"], answer_logp=s["answer_logp"])
            y = generate(model, x, len(target) + 2, temperature=0, memory=mem)  # chosen for these ids
            record["greedy_hit"] = first_word_hit(tokenizer.decode(y[0, len(ids):].tolist()), item["answer"])
            if cfg["num_seeds"]:
                fresh = memory if mem is not None else None  # the batch of seeds chooses again (once, rows alike)
                _, outs = sample_seeds(model, tokenizer, ids, fresh, [cfg["seed"] + j for j in range(cfg["num_seeds"])],
                                       cfg)
                record.update(hits=sum(first_word_hit(t, item["answer"]) for t in outs), example=outs[0][:80])
            if mem is not None:  # which texts were chosen and read: 2i is the first fact, 2i + 1 the second
                _, starts, _ = memory.store.chunks(settings.chunk_by, settings.chunk_size)
                chosen = [int(memory.store.text_ids[starts[c]]) for c in mem.choice.chosen[0].tolist()]
                read = [t for t, r in zip(chosen, mem.choice.read[0].tolist()) if r]
                record.update(chosen=chosen, read=read, first_read=2 * i in read, second_read=2 * i + 1 in read)
            yield record


def summarize(records, cfg):
    rows = []
    for condition in cfg["conditions"]:
        rs = [r for r in records if r["condition"] == condition]
        if not rs:
            continue
        share = lambda test: sum(map(test, rs)) / len(rs)
        row = dict(condition=condition, questions=len(rs), top1=share(lambda r: r["rank"] == 0),
                   mean_answer_logp=sum(r["answer_logp"] for r in rs) / len(rs),
                   greedy_hit=share(lambda r: r["greedy_hit"]))
        if cfg["num_seeds"]:
            row["hit_rate"] = sum(r["hits"] for r in rs) / (cfg["num_seeds"] * len(rs))
        if "first_read" in rs[0]:
            row.update(first_read=share(lambda r: r["first_read"]), second_read=share(lambda r: r["second_read"]),
                       both_read=share(lambda r: r["first_read"] and r["second_read"]))
        rows.append(row)
    return rows


def plot(rows, records, cfg, out):
    """Each condition's rates side by side: top-1, greedy and sampled hits (and, for the method, facts read)."""
    plt = pyplot()
    metrics = [m for m in ("top1", "greedy_hit", "hit_rate", "first_read", "second_read", "both_read")
               if any(m in r for r in rows)]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(rows)
    for j, row in enumerate(rows):
        ax.bar([m + j * width for m in range(len(metrics))], [row.get(k, 0) for k in metrics], width,
               label=row["condition"].replace("_", " "))
    ax.set_xticks([m + width * (len(rows) - 1) / 2 for m in range(len(metrics))],
                  [m.replace("_", " ") for m in metrics])
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title(cfg["title"] or f"two-hop ({cfg['twohop_split']}): {cfg['init_from']}", fontsize=9)
    save(plt, fig, out / "twohop.png")

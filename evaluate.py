"""
Measure what a memory does: sentiment distributions and recall counts over many seeds, sweeps over layers and
the method's parameters (the paper's experiments), the fact benchmark, two-hop questions and passkey retrieval.
Each mode is a task module in mtm/tasks/ (its own settings, records, summary and plot); this script runs any of them
the same way.

    python evaluate.py config/smollm2/eval_sentiment_table1.py
    python evaluate.py config/smollm2/eval_recall_my_facts.py --num_seeds=20

A run directory (out_dir) gets runs.jsonl (every record: point, settings, seed, text, scores), summary.csv and
summary.md (one row per point) and PNG plots. Run it again and finished records are read back, not recomputed.
Sweeps: `sweep_key` names a method setting and `sweep_values` its values; the key 'layers' takes layer patterns:
a string with one character per layer, '_' = off (the paper's '______789___'), or a list of layer indices; those
layers get k = `knn`.
"""
import csv
import json
import sys
from pathlib import Path

from configurator import ConfigError, configure, peek, read_text
from mtm.loading import WeightsUnavailable, load_model, model_facts
from mtm.method.settings import MemorySettings, MemorySettingsError, method_defaults, with_facts
from mtm.storage.store import MemoryStoreError
from mtm.tasks import TASKS

# -----------------------------------------------------------------------------
mode = "sentiment"  # a task of mtm/tasks/: 'sentiment', 'recall', 'facts', 'passkey', 'twohop' (settings: mtm/tasks/<mode>.py)
init_from = "smollm2"
out_dir = "out/eval"  # the run directory: results are appended, finished records skipped
start = "\nCats are horrible"  # the prompt (recall: the question), or FILE:path
memory = "FILE:data/cats.txt"  # memory text, or FILE:path
one_text_per_line = False  # each non-empty line of the memory is its own text (one chunk each)
conditions = ["question", "in_context", "method"]  # recall, facts, passkey: which conditions to run
num_seeds = 100  # seeds seed, seed + 1, ...
seed = 1337
batch_size = 100  # seeds generated together
max_new_tokens = 100
temperature = 0.8
top_k = 200
device = "cpu"
dtype = "float32"
# the method at every point, unless the sweep changes it: every setting of mtm/method/settings.py, at its default
sweep_key = ""  # '' = one point; a method setting ('mem_frac', 'knn_softmax_influence', ...) or 'layers'
sweep_values = []
knn = 5  # k for the layers a 'layers' sweep turns on
wandb_log = False  # log each summary row to Weights & Biases (WANDB_MODE=offline works)
wandb_project = "mtm"
title = ""  # plot title
# -----------------------------------------------------------------------------


def configured(argv=None):
    """(task, settings): the mode's task module and every setting, checked, before any model is loaded."""
    chosen = peek("mode", mode, argv)
    if chosen not in TASKS:
        raise ConfigError(f"mode = {chosen!r}: must be one of {', '.join(map(repr, TASKS))}")
    task = TASKS[chosen]
    namespace = dict(globals(), **{name: s.default for name, s in task.SETTINGS.items()})
    cfg = configure(namespace, argv, rules={name: s.check for name, s in task.SETTINGS.items() if s.check},
                    more=method_defaults())
    cfg = with_facts(cfg, model_facts(cfg["init_from"]))
    MemorySettings.of(dict(cfg, knn_num=cfg["knn_num"] or [0]))  # the method's settings: one line if wrong
    cfg["memory"] = read_text(cfg["memory"])
    task.check(cfg)
    return task, cfg


def read_runs(path):
    """{key: record} of a run directory's runs.jsonl (empty when there is none)."""
    lines = path.read_text().splitlines() if path.exists() else []
    return {r["key"]: r for r in (json.loads(line) for line in lines if line.strip())}


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


def main():
    from tqdm import tqdm
    task, cfg = configured()
    model, tokenizer = load_model(cfg["init_from"], cfg["device"], cfg["dtype"])
    out = Path(cfg["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    done = read_runs(runs_file)
    records = []
    with open(runs_file, "a") as f, tqdm(desc=cfg["mode"], unit="record") as bar:
        for r in task.run(cfg, model, tokenizer, done):
            if r["key"] not in done:
                f.write(json.dumps(r) + "\n")
                f.flush()
            records.append(r)
            bar.update()
    rows = task.summarize(records, cfg)
    for row in rows:
        tqdm.write(" | ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                              if k != "touched_share"))
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.md").write_text(markdown_table(rows))
    if rows:
        task.plot(rows, records, cfg, out)
    if cfg["wandb_log"]:
        import wandb
        run = wandb.init(project=cfg["wandb_project"], config=cfg, dir=str(out))
        for row in rows:
            run.log({k: v for k, v in row.items() if isinstance(v, (int, float))})
        run.finish()
    print(f"wrote {runs_file}, {out / 'summary.csv'}, {out / 'summary.md'} and the plots")


if __name__ == "__main__":
    try:
        main()
    except (ConfigError, MemoryStoreError, MemorySettingsError, WeightsUnavailable) as e:
        sys.exit(f"error: {e}")

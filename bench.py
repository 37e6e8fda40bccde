"""
How fast generation is: tokens/s with and without memory beside transformers' generate on the same
weights, and what the memory adds per token as the context and the memory grow. Prints one markdown report; docs/performance.md holds a full run.
The parts live in mtm/bench/ (one module each); this script holds their settings and runs them.

    python bench.py                  # the full run: about 20 minutes on 2 CPU cores
    python bench.py --quick=True     # small sizes, about 2 minutes, for development
"""
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from configurator import configure, template
from mtm.bench import common, context, recall, scale, size, throughput
from mtm.method.settings import SETTINGS, method_defaults

REPO = Path(__file__).resolve().parent
# the method in the throughput, context and size rows: the paper's Table 1 (Type 3, k 5, MF 5, BF 0.9, TS 0.01,
# r 0.33), in the layers below; any of its settings (or another method setting) can be overridden: --mem_frac=2
TABLE1 = {k: v for k, v in template(REPO / "config" / "paper" / "table1_setting.py").items() if k in SETTINGS}

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
knn = 5  # the method rows' k, in the layers below (Table 1's layers are GPT-2's; these are each model's)
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


def make_gpt2(path):
    """The random GPT-2-small the GPT-2 rows measure, written to path once (scripts/run_templates.py runs the GPT-2
    templates on it)."""
    return common.make_gpt2(path, gpt2_tokenizer_dir)


def main():
    cfg = configure(globals(), more=dict(method_defaults(), **TABLE1))
    if cfg["quick"]:
        cfg.update(QUICK)
    torch.manual_seed(cfg["seed"])
    began = time.time()
    print(f"`{shlex.join(['python'] + sys.argv)}`  ")
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()}), torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads, Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f} at the start"
          + ("; **quick mode: small sizes**" if cfg["quick"] else ""))
    targets = []  # (what, measured, target, met)
    rss = []  # (when, peak RSS of this process so far, MiB)
    if "throughput" in cfg["parts"]:
        throughput.run(cfg, targets, rss)
    if "gpt2" in cfg["models"] and "context" in cfg["parts"]:
        context.run(cfg, targets, rss)
    if "gpt2" in cfg["models"] and "size" in cfg["parts"]:
        size.run(cfg, targets, rss)
    if "recall" in cfg["parts"]:
        recall.run(cfg, targets, rss)
    if "scale" in cfg["parts"]:
        scale.run(cfg)

    print("\n### Targets\n")
    common.table(["target", ">measured", "wanted", "met"],
                 [[t, m, w, {True: "**met**", False: "**not met**"}.get(met, met)] for t, m, w, met in targets])
    print("\n### Peak RSS\n")
    common.table(["when", ">peak RSS of bench.py so far, MiB"], [[w, f"{m:.0f}"] for w, m in rss])
    print(f"\nWall time of the whole run: {(time.time() - began) / 60:.1f} min. Load average at the end: "
          f"{os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[2]:.2f} (15 min); this run's two threads alone make "
          f"about 2, more means another process competed for the cores.")


if __name__ == "__main__":
    main()

"""What bench.py's parts share: timing on a shared machine, the random GPT-2 they measure, the method's settings of
their rows, generation as they time it, and the markdown tables."""
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from mtm.generation import KVCache, generate, sample_next
from mtm.method.settings import MemorySettings
from mtm.tasks.common import layers_to_knn

REPO = Path(__file__).resolve().parents[2]


def in_repo(path):
    """A setting's path: as given if absolute, else relative to the repository."""
    return Path(path) if Path(path).is_absolute() else REPO / path


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


def make_gpt2(path, tokenizer_dir):
    """A GPT-2-small-shaped model (transformers' GPT2Config defaults) with random weights, written once, with GPT-2's
    tokenizer files from tokenizer_dir (encoder.json and vocab.bpe, relative to the repository if not absolute)."""
    path = Path(path)
    if not (path / "model.safetensors").is_file():
        from transformers import GPT2Config, GPT2LMHeadModel
        torch.manual_seed(0)
        GPT2LMHeadModel(GPT2Config()).save_pretrained(path, safe_serialization=True)
        tok = in_repo(tokenizer_dir)
        shutil.copy(tok / "encoder.json", path / "vocab.json")
        shutil.copy(tok / "vocab.bpe", path / "merges.txt")
    return str(path)


def model_path(name, cfg):
    """Where the model the parts call `name` is: the random GPT-2 (written first), or an embedded model's
    converted directory."""
    if name == "gpt2":
        return make_gpt2(in_repo(cfg["gpt2_dir"]), cfg["gpt2_tokenizer_dir"])
    from mtm import embedded
    return str(embedded.converted_dir(name))


def method_settings(cfg, n_layer, layers, mf=None, bf=None):
    """The method of the rows: cfg's method settings (the paper's Table 1 unless overridden), k = cfg['knn'] in
    `layers`, MF and BF replaced where given."""
    config = dict(cfg, knn_num=layers_to_knn(layers, n_layer, cfg["knn"]))
    config.update({} if mf is None else dict(mem_frac=mf))
    config.update({} if bf is None else dict(bookkeeping_frac=bf))
    return MemorySettings.of(config)


def ours(model, ids, memory, n, cfg):
    """This project's generate: n new tokens, row i sampled with seed + i."""
    gens = [torch.Generator().manual_seed(cfg["seed"] + i) for i in range(len(ids))]
    return generate(model, ids, n, cfg["temperature"], cfg["top_k"], memory, gens)


def paired_steps(model, ids, memory, n, repeats, cfg):
    """generate's loop twice side by side, without and with memory, on the same tokens (those sampled without
    memory), each step timed in both, in alternating order, so that a slow moment of the machine falls on both
    alike. Returns seconds [repeats, n + 1, 2]: step 0 is the prompt's, then one per new token; last axis:
    without memory, with."""
    times = []
    for _ in range(repeats):
        caches = [KVCache(capacity=ids.shape[1] + n), KVCache(capacity=ids.shape[1] + n)]
        gens = [[torch.Generator().manual_seed(cfg["seed"])], [torch.Generator().manual_seed(cfg["seed"])]]
        x, steps = ids, []
        with torch.no_grad():
            for i in range(n + 1):
                seconds = [0.0, 0.0]
                for j in ((0, 1) if i % 2 == 0 else (1, 0)):
                    t = time.perf_counter()
                    logits = model(x, memory=memory if j else None, cache=caches[j], last_only=True)[:, -1]
                    token = sample_next(logits, cfg["temperature"], cfg["top_k"], gens[j])
                    seconds[j] = time.perf_counter() - t
                    if j == 0:
                        next_x = token
                x = next_x
                steps.append(seconds)
        times.append(steps)
    return np.array(times)


def table(header, rows):
    """A markdown table; header: column names, a leading '>' right-aligns the column."""
    print("| " + " | ".join(h.lstrip(">") for h in header) + " |")
    print("| " + " | ".join("---:" if h.startswith(">") else "---" for h in header) + " |")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")

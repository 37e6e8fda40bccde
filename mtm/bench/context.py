"""bench.py's second part: the memory's per-token overhead against the context length (GPT-2 shape, cached mode,
MF 0 and BF 0: position 0 alone is selected, batch 1); the prompt is L - context_new_tokens tokens, the steps timed
reach L."""
import sys

import numpy as np
import torch

from configurator import read_text
from mtm.bench.common import method_settings, model_path, paired_steps, peak_rss_mib, table, undisturbed
from mtm.entry import open_memory
from mtm.loading import load_model


def context_rows(cfg):
    model, tok = load_model(model_path("gpt2", cfg))
    settings = method_settings(cfg, model.config.n_layer, cfg["gpt2_layers"], mf=0.0, bf=0.0)
    mem = open_memory(model, tok, settings, texts=read_text(cfg["memory"]), kv_dtype="float32", mode="cached")
    text = tok.prompt(cfg["start"] + read_text(cfg["memory"]))
    paired_steps(model, torch.tensor([text[:16]]), mem, 16, 2, cfg)  # warm up: first calls' costs would fall on L = 64
    rows = []
    for L in cfg["context_lengths"]:
        n = min(cfg["context_new_tokens"], L // 2)
        ids = torch.tensor([(text * (L // len(text) + 1))[:L - n]])
        _, others, steps = undisturbed(lambda: paired_steps(model, ids, mem, n, cfg["context_repeats"], cfg), tries=1)
        steps = steps[:, 1:]  # the new tokens' steps
        rows.append(dict(context=L, plain=np.median(steps[..., 0]), overhead=np.median(steps[..., 1] - steps[..., 0]),
                         others=others))
        print(f"  context {L}: {1e3 * rows[-1]['plain']:.2f} ms/token, memory adds {1e3 * rows[-1]['overhead']:.2f}",
              file=sys.stderr)
    return rows


def run(cfg, targets, rss):
    """Measures and prints the context-length section; adds its target and the peak RSS after it."""
    print("context length", file=sys.stderr)
    ctx = context_rows(cfg)
    rss.append(("after the context-length rows", peak_rss_mib()))
    base, n = ctx[0]["overhead"], cfg["context_new_tokens"]
    print(f"\n### Memory overhead against context length\n\nGPT-2 small shape, batch 1, cached mode, MF 0, BF 0 "
          f"(position 0 alone is selected), otherwise as above, in layers {cfg['gpt2_layers']}. At each length L: a "
          f"prompt of L − {n} tokens (the prompt and the memory text, repeated), then {n} new tokens, generated side "
          f"by side without and with memory on the same tokens, each step timed in both (the prompt's step not "
          f"counted); {cfg['context_repeats']} runs. ms/token: the median step; overhead: the median of the steps' "
          f"paired differences.\n")
    table([">context (tokens)", ">ms/token, no memory", ">overhead ms/token",
           f">overhead / overhead at {cfg['context_lengths'][0]}", ">others' CPU"],
          [[r["context"], f"{1e3 * r['plain']:.2f}", f"{1e3 * r['overhead']:.2f}", f"{r['overhead'] / base:.2f}",
            f"{100 * r['others']:.0f} %"] for r in ctx])
    ratio = ctx[-1]["overhead"] / base
    targets.append((f"cached mode, MF 0: overhead at context {ctx[-1]['context']} / at {ctx[0]['context']}",
                    f"{ratio:.2f}", "≤ 1.3", ratio <= 1.3))

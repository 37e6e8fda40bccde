"""bench.py's first part: tokens/s with and without memory (exact and cached mode) beside transformers' generate on
the same weights, per model and batch size."""
import sys

import torch

from configurator import read_text
from mtm.bench.common import method_settings, model_path, ours, table, undisturbed, peak_rss_mib
from mtm.entry import open_memory
from mtm.loading import load_model

LAYERS = dict(gpt2="gpt2_layers", smollm2="smollm2_layers", gemma3="gemma3_layers")  # model -> its layers' setting
LABELS = dict(gpt2="GPT-2 small shape, random weights", smollm2="SmolLM2-135M-Instruct", gemma3="Gemma 3 270M")


def transformers_generate(hf, ids, n, cfg):
    torch.manual_seed(cfg["seed"])
    with torch.no_grad():
        return hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, top_k=cfg["top_k"],
                           temperature=cfg["temperature"], max_new_tokens=n, min_new_tokens=n, pad_token_id=0)


def throughput_rows(name, cfg):
    """One row per batch size and generation: transformers' generate, ours without memory, in exact and in cached
    mode (the memory: cfg['memory'], read after the model's bookkeeping token, float32, in the model's layers)."""
    from transformers import AutoModelForCausalLM
    path = model_path(name, cfg)
    model, tok = load_model(name if name != "gpt2" else path)
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    settings = method_settings(cfg, model.config.n_layer, cfg[LAYERS[name]])
    exact = open_memory(model, tok, settings, texts=read_text(cfg["memory"]), kv_dtype="float32", mode="exact")
    memories = dict(exact=exact, cached=open_memory(model, tok, settings, store=exact.store, mode="cached"))
    label, n = LABELS[name], cfg["max_new_tokens"]
    rows = []
    for B in cfg["batch_sizes"]:
        ids = torch.tensor([tok.prompt(cfg["start"])] * B)
        runs = [("transformers `generate`", "none", lambda: transformers_generate(hf, ids, n, cfg))]
        for mode in (None, "exact", "cached"):
            mem = None if mode is None else memories[mode]
            runs.append(("mtm `generate`", mode or "none", lambda mem=mem: ours(model, ids, mem, n, cfg)))
        for what, mode, fn in runs:
            # warm up at this batch (allocations, first-call costs), for both alike
            ours(model, ids, None, 2, cfg) if what.startswith("mtm") else transformers_generate(hf, ids, 2, cfg)
            seconds, others, out = undisturbed(fn)
            assert out.shape == (B, ids.shape[1] + n)
            rows.append(dict(model=label, batch=B, what=what, mode=mode, tokens=n, seconds=seconds,
                             tps=B * n / seconds, others=others))
            print(f"  {label} | batch {B} | {what} | memory {mode}: {rows[-1]['tps']:.1f} tokens/s", file=sys.stderr)
    return rows


def run(cfg, targets, rss):
    """Measures and prints the tokens/s section for cfg['models']; adds its targets (at the largest batch) and the
    peak RSS after each model."""
    rows = []
    for name in cfg["models"]:
        print(f"throughput: {name}", file=sys.stderr)
        rows += throughput_rows(name, cfg)
        rss.append((f"after the throughput rows of {name}", peak_rss_mib()))
    tps = {(r["model"], r["batch"], r["what"].split(":")[0], r["mode"]): r["tps"] for r in rows}
    hf = {(r["model"], r["batch"]): r["tps"] for r in rows if r["what"].startswith("transformers")}
    if rows:
        memory = cfg["memory"]
        mem_name = memory[5:] if memory.startswith("FILE:") else "the text given"
        print(f"\n### Tokens/s\n\nPrompt {cfg['start']!r}, {cfg['max_new_tokens']} new tokens, "
              f"top-k {cfg['top_k']}, temperature {cfg['temperature']}, sampled with seed {cfg['seed']} + row. Memory: "
              f"{mem_name}, Type 3, k {cfg['knn']}, MF {cfg['mem_frac']:g}, BF {cfg['bookkeeping_frac']:g}, TS "
              f"{cfg['knn_softmax_influence']:g}, r {cfg['resid_frac']:g}, in layers {cfg['gpt2_layers']} (GPT-2), "
              f"{cfg['smollm2_layers']} (SmolLM2) and {cfg['gemma3_layers']} (Gemma 3). tokens/s = batch × new tokens "
              f"/ wall time of the whole call (the prompt's step included). Others' CPU: the share of the machine's "
              f"CPU time that other processes took during the row (the machine is shared); a row above 5 % was run "
              f"again, once, and the less disturbed run kept.\n")
        table(["model", ">batch", "generation", "memory mode", ">new tokens", ">seconds", ">tokens/s",
               ">× transformers, same batch", ">others' CPU"],
              [[r["model"], r["batch"], r["what"], r["mode"], r["tokens"], f"{r['seconds']:.1f}", f"{r['tps']:.1f}",
                f"{r['tps'] / hf[r['model'], r['batch']]:.2f}" if (r["model"], r["batch"]) in hf else "–",
                f"{100 * r['others']:.0f} %"] for r in rows])
    B = max(cfg["batch_sizes"])
    for model in dict.fromkeys(r["model"] for r in rows):
        if (model, B) not in hf:
            continue
        short = model.split(",")[0]
        ratio = tps[model, B, "mtm `generate`", "none"] / hf[model, B]
        targets.append((f"{short}, no memory, batch {B}: × transformers", f"{ratio:.2f}", "≥ 1.0", ratio >= 1.0))
        ratio = tps[model, B, "mtm `generate`", "cached"] / hf[model, B]
        targets.append((f"{short}, cached mode, batch {B}: × transformers without memory", f"{ratio:.2f}", "≥ 0.8",
                        ratio >= 0.8))

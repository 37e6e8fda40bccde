"""bench.py's fourth part: the recall setting (recall_config, chunk retrieval) on SmolLM2 with memories of many facts:
the fact benchmark's test facts, then invented distractors; batch max(batch_sizes) (one fact question, seeds seed +
row), cached mode, beside no memory."""
import sys
from dataclasses import replace
from pathlib import Path

import torch

from configurator import template
from memory import with_chunks
from mtm.bench.common import REPO, ours, peak_rss_mib, table, timed, undisturbed
from mtm.entry import open_memory
from mtm.loading import load_model, model_facts
from mtm.method.settings import MemorySettings
from mtm.tasks import fact_data


def opened(model, tok, settings, texts, prompt):
    """The memory of texts, cached mode, with the hub term's typical scores computed (a first choice, dropped)."""
    memory = open_memory(model, tok, settings, texts=texts, kv_dtype="float32", mode="cached")
    with_chunks(model, prompt, memory)
    return memory


def recall_rows(cfg):
    """Per-token cost of the recall setting with memories of n facts, beside no memory, batch max(batch_sizes)."""
    path = Path(cfg["recall_config"])  # relative to the current directory, or else to the repository
    path = path if path.is_file() or path.is_absolute() else REPO / path
    settings = MemorySettings.of(template(path), model_facts("smollm2"))
    settings = replace(settings, chunk_min_score=None, chunk_min_overlap=None)  # the cost of reading: no question
    # turned away
    model, tok = load_model("smollm2")
    test = fact_data.load_facts("test")
    B, n_new = max(cfg["batch_sizes"]), cfg["recall_new_tokens"]
    ids = torch.tensor([tok.prompt(test[0]["question"])] * B)
    ours(model, ids[:2], None, 2, cfg)  # warm up
    rows = []
    for n in cfg["recall_fact_counts"]:
        # the store as before open_memory: every layer's keys and values, float32. Built with it: the chooser's
        # typical score of each text (the hub term, once per store), so that the rows time the choice, not that
        t_build, mem = timed(lambda: opened(model, tok, settings, fact_data.memory_texts(test, n), ids[:1]))
        for label, m in (("no memory", None), (f"{n} facts", mem)):
            seconds, others, _ = undisturbed(lambda: ours(model, ids, m, n_new, cfg))
            rows.append(dict(n=n, what=label, tokens=len(mem.store), build=t_build, seconds=seconds, others=others,
                             ms=1e3 * seconds / n_new))
        del mem
    return rows


def run(cfg, targets, rss):
    """Measures and prints the recall-setting section; adds its target (the 1000-fact memory) and the peak RSS."""
    print("recall setting", file=sys.stderr)
    rec = recall_rows(cfg)
    rss.append(("after the recall rows", peak_rss_mib()))
    print(f"\n### The recall setting against the facts held\n\nSmolLM2, {cfg['recall_config']} (chunk retrieval) without "
          f"its gate (every question reads its chosen text: the cost of reading; a question below the gate costs the "
          f"choice alone), cached mode, batch {max(cfg['batch_sizes'])}, the first test fact's question, "
          f"{cfg['recall_new_tokens']} new tokens, top-k {cfg['top_k']}, temperature {cfg['temperature']}. The "
          f"memory: the fact benchmark's test facts, then invented distractors, up to n facts. ms/token = wall time "
          f"of the whole call (the prompt's step and the choice of the chunk included) / new tokens; each memory row "
          f"is measured right after its own no-memory row. Build: reading the memory and the chooser's typical score "
          f"of each text (the hub term, once per store).\n")
    table([">facts", ">stored tokens", ">build s", "generation", ">ms/token", ">× no memory", ">others' CPU"],
          [[r["n"], r["tokens"], f"{r['build']:.0f}", r["what"], f"{r['ms']:.1f}",
            f"{r['ms'] / rec[i - 1]['ms']:.2f}" if r["what"] != "no memory" else "–", f"{100 * r['others']:.0f} %"]
           for i, r in enumerate(rec)])
    at = [r for r in rec if r["what"] != "no memory" and r["n"] == 1000]
    if at:
        i = rec.index(at[0])
        ratio = at[0]["ms"] / rec[i - 1]["ms"]
        targets.append(("recall setting, 1000-fact memory, cached, batch 100: per-token cost × no memory",
                        f"{ratio:.2f}", "≤ 1.3", ratio <= 1.3))

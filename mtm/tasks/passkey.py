"""
Passkey retrieval, the standard long-context check (the Landmark-attention prompt): filler sentences, with
"The pass key is NNNNN. Remember it. NNNNN is the pass key." at a random depth, then "What is the pass key?
The pass key is". Greedy decoding; a trial counts when the continuation begins with the key.

The haystack as a memory: cut into texts of `text_periods` filler periods (about 25 tokens each), each read on
its own (identical texts are read once), the key inside one of them; chunk retrieval chooses the text. The
haystack in the context, while it fits the window, is the upper bound. `evaluate.py` mode 'passkey'.
"""
import random

import torch

from configurator import ConfigError, at_least, ints_at_least
from mtm.generation import generate
from mtm.method.settings import MemorySettings, Setting
from mtm.entry import open_memory
from mtm.tasks.common import digest, plot_rates

SETTINGS = dict(
    passkey_lengths=Setting([1024, 4096, 16384, 65536], ints_at_least(1), "haystack lengths in tokens"),
    passkey_trials=Setting(20, at_least(1), "trials per length (a new key at a new depth each)"),
    context_trials=Setting(20, at_least(0), "of these, how many also run with the haystack in the context (slow on "
                           "a CPU)"),
)


def check(cfg):
    if "method" in cfg["conditions"] and not MemorySettings.of(cfg).chunk_select:
        raise ConfigError("passkey mode runs the method with chunk retrieval: set chunk_select and chunk_layers")

INTRO = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
         "I will quiz you about the important information there. ")
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
QUESTION = "\nWhat is the pass key? The pass key is"


def haystack(tokenizer, n_tokens, rng, text_periods=10):
    """(texts, key): about n_tokens of filler in texts of text_periods periods, the key sentence in one of them
    at a random depth (between two periods)."""
    key = str(rng.randint(10000, 99999))
    periods = max(1, round((n_tokens - len(tokenizer.encode(INTRO))) / len(tokenizer.encode(FILLER))))
    at = rng.randint(0, periods)
    parts = [INTRO] + [FILLER] * periods
    parts.insert(1 + at, f"The pass key is {key}. Remember it. {key} is the pass key. ")
    texts, current, count = [], "", 0
    for part in parts:
        current += part
        count += part == FILLER
        if count == text_periods:
            texts.append(current)
            current, count = "", 0
    return texts + ([current] if current else []), key


@torch.no_grad()
def run(cfg, model, tokenizer, done):
    """Yields one record per (haystack length, trial, condition)."""
    settings = MemorySettings.of(cfg)
    run_key = digest([cfg[k] for k in ("init_from", "seed", "max_new_tokens", "bookkeeping_token")] + [vars(settings)])
    rng = random.Random(cfg["seed"])
    q = tokenizer.encode(QUESTION)
    device = cfg["device"]
    for n_tokens in cfg["passkey_lengths"]:
        for trial in range(cfg["passkey_trials"]):
            texts, passkey = haystack(tokenizer, n_tokens, rng)
            for condition in cfg["conditions"]:
                key = f"{run_key}|{n_tokens}|{trial}|{condition}"
                if key in done:  # the haystack above is drawn all the same: the random stream stays in step
                    yield done[key]
                    continue
                if condition == "in_context":
                    prompt = tokenizer.prompt("".join(texts)) + q
                    if len(prompt) + cfg["max_new_tokens"] > model.config.block_size or trial >= cfg["context_trials"]:
                        continue  # does not fit the window (or past the trials this costly condition gets)
                    memory = None
                elif condition == "method":
                    prompt = tokenizer.prompt(QUESTION)
                    memory = open_memory(model, tokenizer, settings, texts=texts, kv_dtype="float32", device=device)
                else:  # the question alone
                    prompt, memory = tokenizer.prompt(QUESTION), None
                y = generate(model, torch.tensor([prompt], device=device), cfg["max_new_tokens"], temperature=0,
                             memory=memory)
                text = tokenizer.decode(y[0, len(prompt):].tolist())
                yield dict(key=key, n_tokens=n_tokens, trial=trial, condition=condition, passkey=passkey, text=text,
                           hit=text.strip().startswith(passkey))


def summarize(records, cfg):
    rows = []
    for n in cfg["passkey_lengths"]:
        for condition in cfg["conditions"]:
            rs = [r for r in records if r["n_tokens"] == n and r["condition"] == condition]
            if rs:
                rows.append(dict(haystack_tokens=n, condition=condition, trials=len(rs), hits=sum(r["hit"] for r in rs),
                                 rate=sum(r["hit"] for r in rs) / len(rs), example=rs[0]["text"][:30]))
    return rows


def plot(rows, records, cfg, out):
    """Hit rate against haystack length, one line per condition."""
    plot_rates(rows, "haystack_tokens", "rate", "haystack tokens", "continuation begins with the pass key",
               cfg["title"] or f"passkey: {cfg['init_from']}", out / "passkey.png")

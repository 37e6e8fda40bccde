"""
Passkey retrieval, the standard long-context check (the Landmark-attention prompt): filler sentences, with
"The pass key is NNNNN. Remember it. NNNNN is the pass key." at a random depth, then "What is the pass key?
The pass key is". Greedy decoding; a trial counts when the continuation begins with the key.

The haystack as a memory: cut into texts of `text_periods` filler periods (about 25 tokens each), each read on
its own (identical texts are read once), the key inside one of them; chunk retrieval chooses the text. The
haystack in the context, while it fits the window, is the upper bound. Used by `evaluate.py` mode 'passkey'.
"""
import random

import torch

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
def run_passkey(cfg, model, tokenizer, settings):
    """Yields one record per (haystack length, condition, trial)."""
    from memory import Memory, build_store
    from model import generate
    rng = random.Random(cfg["seed"])
    q = tokenizer.encode(QUESTION)
    device = cfg["device"]
    for n_tokens in cfg["passkey_lengths"]:
        for trial in range(cfg["passkey_trials"]):
            texts, key = haystack(tokenizer, n_tokens, rng)
            for condition in cfg["conditions"]:
                if condition == "in_context":
                    prompt = tokenizer.prompt("".join(texts)) + q
                    if len(prompt) + cfg["max_new_tokens"] > model.config.block_size or trial >= cfg["context_trials"]:
                        continue  # does not fit the window (or past the trials this costly condition gets)
                    memory = None
                elif condition == "method":
                    prompt = tokenizer.prompt(QUESTION)
                    store = build_store(model, tokenizer, texts, settings.store_layers, cfg["bookkeeping_token"],
                                        progress=False)
                    memory = Memory(store.to(device), settings, mode=cfg["memory_mode"])
                else:  # the question alone
                    prompt, memory = tokenizer.prompt(QUESTION), None
                y = generate(model, torch.tensor([prompt], device=device), cfg["max_new_tokens"], temperature=0,
                             memory=memory)
                text = tokenizer.decode(y[0, len(prompt):].tolist())
                yield dict(n_tokens=n_tokens, trial=trial, condition=condition, key=key, text=text,
                           hit=text.strip().startswith(key))

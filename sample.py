"""
Sample from a model with (and optionally without) a medium-term memory.

    python sample.py config/sample_gpt2_type_3_method.py
    python sample.py config/paper/sample_no_memory.py --start="The weather today" --num_samples=3
"""
import sys

import torch

from configurator import ConfigError, configure, read_text
from generation import generate
from loading import WeightsUnavailable, load_model
from memory import (Memory, MemorySettings, MemorySettingsError, explain_trace, method_defaults, rare_overlap,
                    with_chunks)
from disk import load_store
from reading import build_store, memory_texts, relevance_inputs
from store import MemoryStoreError, check_store
from tasks.sentiment import vader

# -----------------------------------------------------------------------------
init_from = "smollm2"  # 'smollm2' or 'gemma3' (embedded), 'gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl', or a local directory
start = "\n"  # the prompt, or FILE:path
num_samples = 1  # samples, with seeds seed, seed + 1, ..., generated together in one batch
max_new_tokens = 100
temperature = 0.8  # 1.0 = no change, < 1.0 = less random; 0 = greedy
top_k = 200  # keep only the top_k most likely tokens
seed = 1337
device = "cpu"  # 'cpu', 'cuda', 'cuda:0', ...
dtype = "float32"  # 'float32', 'bfloat16' or 'float16'
# the memory: text read into a store on the fly, or a store made by build_memory.py
memory = ""  # memory text, or FILE:path; '' = none
mem_store = ""  # directory of a store from build_memory.py; '' = none
bookkeeping_token = "\n"  # creation 2: prepended to the memory text, then dropped ('' = creation 1)
# the method: every setting of memory.SETTINGS (knn_num, mem_frac, ..., each with its default and a line of help)
globals().update(method_defaults())
one_text_per_line = False  # memory: each non-empty line is its own text (a fact), read on its own: one chunk each
unadulterated_gpt = False  # also print the continuation without memory, same seed, first
method_text = ""  # a label for the memory run's output
show_vader = True  # print the VADER sentiment (compound) of each continuation, the prompt left out
explain = False  # print which memory entries the method retrieved on the first step (paper Tables 2, 3)
# -----------------------------------------------------------------------------


def main():
    configure(globals())
    torch.manual_seed(seed)
    settings = MemorySettings.of(globals())
    if memory and mem_store:
        raise ConfigError("set memory (text read on the fly) or mem_store (a saved store), not both")
    if not read_text(start):
        raise ConfigError("start is empty: give a prompt (the paper uses '\\n' followed by text)")
    model, tokenizer = load_model(init_from, device, dtype)
    mem = None
    if memory or mem_store:
        if not settings.layers:
            raise ConfigError("a memory is given but knn_num turns the method on in no layer")
        if mem_store:
            store = load_store(mem_store)
        else:
            texts = memory_texts(read_text(memory), one_text_per_line)
            store = build_store(model, tokenizer, texts, settings.store_layers, bookkeeping_token)
        check_store(store, model, settings)
        store.to(device)
        for layer in settings.layers if settings.retrieval == "blend" else []:
            if settings.knn_num[layer] > len(store):
                print(f"note: k = {settings.knn_num[layer]} in layer {layer} but the store holds {len(store)} "
                      f"tokens; the missing neighbours get weight 0")
        mem = Memory(store, settings, **relevance_inputs(settings, tokenizer, model))
    elif settings.layers:
        print("note: knn_num is set but no memory is given (memory or mem_store): sampling without memory")

    prompt = tokenizer.prompt(read_text(start))
    window = model.config.block_size
    if len(prompt) > window:  # generate reads the context's last `window` tokens
        print(f"note: the prompt has {len(prompt)} tokens, the model's window {window}: its last {window} tokens "
              f"are kept, the first {len(prompt) - window} dropped")
    elif len(prompt) + max_new_tokens > window:
        print(f"note: {len(prompt)} prompt tokens + {max_new_tokens} new ones exceed the model's window of {window}: "
              f"the window slides, the prompt's first tokens drop out as generation goes on")
    x = torch.tensor(prompt, dtype=torch.long, device=device)[None].repeat(num_samples, 1)
    seeds = [seed + i for i in range(num_samples)]
    label = method_text or (f"{settings.method_type} method, layers {settings.layers}" if mem else "no memory")
    runs = ([("unadulterated model (no memory)", None)] if unadulterated_gpt and mem else []) + [(label, mem)]
    outputs = []
    for name, m in runs:  # each seed draws from its own generator: the same stream with and without memory
        generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        outputs.append((name, generate(model, x, max_new_tokens, temperature, top_k if top_k > 0 else None, m,
                                       generators)))
    for i, s in enumerate(seeds):
        for name, y in outputs:
            print(f"=== {name} | seed {s} ===")
            print(tokenizer.decode(y[i].tolist()))
            if show_vader:
                print(f"[VADER compound of the continuation: "
                      f"{vader(tokenizer.decode(y[i, len(prompt):].tolist()))['compound']:+.4f}]")
            print("-" * 40)
    if explain and mem and settings.chunk_select:
        picked = with_chunks(model, x[:1], mem)
        _, starts, lengths = store.chunks(chunk_by, chunk_size)
        print(f"=== chunks chosen (best first) by layers {list(chunk_layers)}' queries ===")
        shares = [None] * picked.chosen.shape[1] if chunk_min_overlap is None else rare_overlap(
            x[:1, settings.chunk_skip:], picked.chosen[:1], store.token_ids, starts, lengths, mem.rarity,
            settings.chunk_rarity_power)[0]
        for c, score, share in zip(picked.chosen[0].tolist(), picked.scores[0].tolist(), shares):
            gate = "" if chunk_min_score is None else (" read" if score >= chunk_min_score else
                                                       f" below chunk_min_score {chunk_min_score}: not read")
            if share is not None:
                gate += (f"; holds {share:.2f} of the prompt's rarity" +
                         ("" if share >= chunk_min_overlap else f", below chunk_min_overlap {chunk_min_overlap}: not read"))
            print(f"chunk {c} (score {score:.2f}{gate}): "
                  f"{tokenizer.decode(store.token_ids[starts[c]:starts[c] + lengths[c]].tolist())!r}")
    elif explain and mem:
        mem.trace = []
        with torch.no_grad():
            model(x[:1], memory=mem)  # the first generation step again, recording what it retrieved
        print(f"=== retrieval on the first step: {len(mem.trace)} token-heads selected ===")
        print(explain_trace(mem.trace, tokenizer.decode, prompt))
        mem.trace = None


if __name__ == "__main__":
    try:
        main()
    except (ConfigError, MemoryStoreError, MemorySettingsError, WeightsUnavailable) as e:
        sys.exit(f"error: {e}")

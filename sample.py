"""
Sample from a model with (and optionally without) a medium-term memory.

    python sample.py config/sample_gpt2_type_3_method.py
    python sample.py config/paper/sample_no_memory.py --start="The weather today" --num_samples=3
"""
import sys

import torch

from configurator import ConfigError, configure, read_text
from memory import explain_trace, with_chunks
from mtm.entry import open_memory
from mtm.generation import generate
from mtm.loading import WeightsUnavailable, load_model, model_facts
from mtm.method.relevance import rare_overlap
from mtm.method.settings import MemorySettings, MemorySettingsError, method_defaults, with_facts
from mtm.storage.store import MemoryStoreError
from mtm.tasks.sentiment import vader

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
one_text_per_line = False  # memory: each non-empty line is its own text (a fact), read on its own: one chunk each
kv_dtype = "auto"  # memory read on the fly: its keys and values as build_memory.py would store them
unadulterated_gpt = False  # also print the continuation without memory, same seed, first
method_text = ""  # a label for the memory run's output
show_vader = True  # print the VADER sentiment (compound) of each continuation, the prompt left out
explain = False  # print which memory entries the method retrieved on the first step (paper Tables 2, 3)
# the method's settings (knn_num, mem_frac, ...): mtm/method/settings.py, each with its default and a line of help
# -----------------------------------------------------------------------------


def main():
    cfg = with_facts(configure(globals(), more=method_defaults()), model_facts(init_from))
    torch.manual_seed(seed)
    settings = MemorySettings.of(cfg)
    if memory and mem_store:
        raise ConfigError("set memory (text read on the fly) or mem_store (a saved store), not both")
    if not read_text(start):
        raise ConfigError("start is empty: give a prompt (the paper uses '\\n' followed by text)")
    model, tokenizer = load_model(init_from, device, dtype)
    mem = None
    if memory or mem_store:
        if not settings.layers:
            raise ConfigError("a memory is given but knn_num turns the method on in no layer")
        texts = read_text(memory) if memory else None
        mem = open_memory(model, tokenizer, settings, texts=texts, store=mem_store or None,
                          one_text_per_line=one_text_per_line, kv_dtype=kv_dtype, device=device)
        store = mem.store
        for layer in settings.layers if settings.retrieval == "blend" else []:
            if settings.knn_num[layer] > len(store):
                print(f"note: k = {settings.knn_num[layer]} in layer {layer} but the store holds {len(store)} "
                      f"tokens; the missing neighbours get weight 0")
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
        choice = with_chunks(model, x[:1], mem).choice
        _, starts, lengths = store.chunks(settings.chunk_by, settings.chunk_size)
        print(f"=== chunks chosen (best first) by layers {list(settings.chunk_layers)}' queries ===")
        gate, check = settings.chunk_min_score, settings.chunk_min_overlap
        shares = [None] * choice.chosen.shape[1] if check is None else rare_overlap(
            x[:1, settings.chunk_skip:], choice.chosen[:1], store.token_ids, starts, lengths, mem.rarity,
            settings.chunk_rarity_power)[0]
        for c, score, share in zip(choice.chosen[0].tolist(), choice.scores[0].tolist(), shares):
            said = "" if gate is None else (" read" if score >= gate else f" below chunk_min_score {gate}: not read")
            if share is not None:
                said += (f"; holds {share:.2f} of the prompt's rarity" +
                         ("" if share >= check else f", below chunk_min_overlap {check}: not read"))
            print(f"chunk {c} (score {score:.2f}{said}): "
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

"""
Build a persistent memory store: read memory text through the unmodified model and keep the keys and values of
the chosen layers, per head, in a directory of append-only segments (disk.py: manifest.json + safetensors).

    python build_memory.py --memory=FILE:data/cats.txt --layers=[6,7,8] --mem_store=stores/cats
    python build_memory.py --memory=FILE:more.txt --mem_store=stores/cats --append=True
    python sample.py config/sample_gpt2_type_3_method.py --memory= --mem_store=stores/cats
    python build_memory.py --init_from=smollm2 --memory=FILE:data/my_facts.txt --one_text_per_line=True \
        --all_layers=True --mem_store=stores/my_facts     # one fact per line: the recall setting (float16)
    python build_memory.py --mem_store=stores/my_facts --forget_texts=[3]         # forget text 3 (from 0) ...
    python build_memory.py --mem_store=stores/my_facts --forget_match="Zorbian"   # ... or every text holding this
    python build_memory.py --mem_store=stores/my_facts --compact=True             # reclaim forgotten texts' space
    python build_memory.py --init_from=smollm2 --memory=FILE:data/my_facts.txt --one_text_per_line=True \
        --kv=recompute --layers=[17] --mem_store=stores/my_facts_small  # the chooser's keys only: ~60x smaller
"""
import sys
from pathlib import Path

import disk
from configurator import ConfigError, configure, read_text
from loading import WeightsUnavailable, load_model
from reading import memory_texts
from store import MemoryStoreError

# -----------------------------------------------------------------------------
init_from = "smollm2"  # the model the memory is for (as sample.py's default): the store fits only its weights
memory = ""  # memory text, or FILE:path
mem_store = "mem_store"  # output directory
layers = [6, 7, 8]  # layer indices (0-based) to keep keys/values for: the layers where knn_num > 0
all_layers = False  # True: every layer (what the recall setting, config/smollm2/recall_setting.py, reads)
bookkeeping_token = "\n"  # creation 2: prepended to each window of text, then dropped ('' = creation 1)
index = "flat"  # 'flat' (exact), or FAISS's approximate 'ivf' (or 'hnsw') for very large memories
kv_dtype = "auto"  # stored keys and values: 'float32', or 'float16' / 'bfloat16' (half the bytes); 'auto':
# float16 for stores of every layer and kv='recompute' ones (on the fact benchmark's dev split it moved top-1 by 0.000,
# docs/performance.md), float32 for the paper's few-layer stores (their results are float32's)
kv = "stored"  # 'stored': keys and values of `layers`; 'recompute': the keys of `layers` (the chooser's,
# chunk_layers) and the token ids only: chunk retrieval reads its chosen chunks again (kept: the windows' layout)
append = False  # True: add the text to the existing store at mem_store (new segments only)
one_text_per_line = False  # each non-empty line is its own text (a fact), read on its own: one chunk each
forget_texts = []  # text numbers (from 0) to forget: never chosen, searched or read again
forget_match = ""  # forget every text that holds this string
compact = False  # True: rewrite the segments that hold forgotten texts without them
device = "cpu"
dtype = "float32"
# -----------------------------------------------------------------------------


def main():
    configure(globals())
    if forget_texts or forget_match or compact:
        if memory:
            raise ConfigError("give memory text to build or append, or forget_texts / forget_match / compact, not both")
        for which in [w for w in (forget_texts, forget_match) if w]:
            print(f"forgot texts {disk.forget(mem_store, which)} of memory store {mem_store}")
        if compact:
            print(f"compacted memory store {mem_store}: {disk.compact(Path(mem_store)) / 2**20:.2f} MiB reclaimed")
        return
    text = read_text(memory)
    if not text.strip():
        raise ConfigError("memory is empty: give the text to store (or FILE:path to a text file)")
    texts = memory_texts(text, one_text_per_line)
    texts = [texts] if isinstance(texts, str) else texts
    model, tokenizer = load_model(init_from, device, dtype)
    if append:
        store = disk.append_on_disk(Path(mem_store), model, tokenizer, texts)
    else:
        chosen = list(range(model.config.n_layer)) if all_layers else layers
        dtype_kv = kv_dtype if kv_dtype != "auto" else "float16" if all_layers or kv == "recompute" else "float32"
        store = disk.build_on_disk(Path(mem_store), model, tokenizer, texts, chosen, bookkeeping_token, index, dtype_kv,
                                   kv=kv)
    m = store.meta
    size = sum(f.stat().st_size for f in Path(mem_store).iterdir())
    print(f"memory store {mem_store}: {len(store)} tokens stored per layer and head, in {len(store.segments)} "
          f"segment(s), layers {store.layers}, {m['n_head']} heads of dim {m['head_dim']}, {m['kv_dtype']}, "
          f"{'keys only (kv=recompute)' if store.recomputes else 'keys and values'}, "
          f"{size / 2**20:.2f} MiB on disk")
    print(f"model {m['model']} (weights {m['model_fingerprint']}), tokenizer {m['tokenizer']}, "
          f"{len(m['texts'])} text(s), index {m['index']}")


if __name__ == "__main__":
    try:
        main()
    except (ConfigError, MemoryStoreError, WeightsUnavailable) as e:
        sys.exit(f"error: {e}")

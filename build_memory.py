"""
Build a persistent memory store: read memory text through the unmodified model and keep the
keys and values of the chosen layers, per head, in a directory (manifest.json + safetensors).

    python build_memory.py --memory=FILE:data/cats.txt --layers=[6,7,8] --mem_store=stores/cats
    python build_memory.py --memory=FILE:more.txt --mem_store=stores/cats --append=True
    python sample.py config/sample_gpt2_type_3_method.py --memory= --mem_store=stores/cats
    python build_memory.py --init_from=smollm2 --memory=FILE:data/my_facts.txt --one_text_per_line=True \
        --all_layers=True --mem_store=stores/my_facts     # one fact per line, for the recall setting
"""
import sys
from pathlib import Path

from configurator import ConfigError, configure, read_text
from store import MemoryStoreError, append_text, build_store, load_store, memory_texts, save_store, store_lock
from loading import WeightsUnavailable, load_model

# -----------------------------------------------------------------------------
init_from = "smollm2"  # the model the memory is for (as sample.py's default): the store fits only its weights
memory = ""  # memory text, or FILE:path
mem_store = "mem_store"  # output directory
layers = [6, 7, 8]  # layer indices (0-based) to keep keys/values for: the layers where knn_num > 0
all_layers = False  # True: every layer (what the recall setting, config/smollm2/recall_setting.py, reads)
bookkeeping_token = "\n"  # creation 2: prepended to each window of text, then dropped ('' = creation 1)
index = "flat"  # 'flat' (exact), or FAISS's approximate 'ivf' (or 'hnsw') for very large memories
append = False  # True: add the text to the existing store at mem_store (same model and layers)
one_text_per_line = False  # each non-empty line is its own text (a fact), read on its own: one chunk each
device = "cpu"
dtype = "float32"
# -----------------------------------------------------------------------------


def main():
    configure(globals())
    text = read_text(memory)
    if not text.strip():
        raise ConfigError("memory is empty: give the text to store (or FILE:path to a text file)")
    text = memory_texts(text, one_text_per_line)
    model, tokenizer = load_model(init_from, device, dtype)
    if append:
        with store_lock(mem_store):  # another writer's append waits: both land
            store = append_text(load_store(mem_store), model, tokenizer, text)
            save_store(store, mem_store)
    else:
        chosen = list(range(model.config.n_layer)) if all_layers else layers
        store = build_store(model, tokenizer, text, chosen, bookkeeping_token, index=index)
        with store_lock(mem_store):
            save_store(store, mem_store)
    m = store.meta
    size = sum(f.stat().st_size for f in Path(mem_store).iterdir())
    print(f"memory store {mem_store}: {len(store)} tokens stored per layer and head, "
          f"layers {store.layers}, {m['n_head']} heads of dim {m['head_dim']}, {size / 2**20:.2f} MiB on disk")
    print(f"model {m['model']} (weights {m['model_fingerprint']}), tokenizer {m['tokenizer']}, "
          f"{len(m['texts'])} text(s), index {m['index']}")


if __name__ == "__main__":
    try:
        main()
    except (ConfigError, MemoryStoreError, WeightsUnavailable) as e:
        sys.exit(f"error: {e}")

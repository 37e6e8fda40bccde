"""
Build a persistent memory store: read memory text through the unmodified model and keep the keys and values of
the layers the method reads, per head, in a directory of append-only segments (mtm/storage/disk.py). It takes the
templates of sample.py and evaluate.py (their other settings are ignored), so a store is built as they read it:

    python build_memory.py config/smollm2/sample_recall_my_facts.py --mem_store=stores/my_facts
    python sample.py config/smollm2/sample_recall_my_facts.py --memory= --mem_store=stores/my_facts
    python build_memory.py --init_from=gemma3 --memory=FILE:data/my_facts.txt --one_text_per_line=True \
        --all_layers=True --mem_store=stores/g      # the model's bookkeeping token (Gemma: <bos>), every layer
    python build_memory.py --memory=FILE:data/cats.txt --layers=[6,7,8] --mem_store=stores/cats
    python build_memory.py --memory=FILE:more.txt --mem_store=stores/cats --append=True
    python build_memory.py --mem_store=stores/my_facts --forget_texts=[3]         # forget text 3 (from 0) ...
    python build_memory.py --mem_store=stores/my_facts --forget_match="Zorbian"   # ... or every text holding this
    python build_memory.py --mem_store=stores/my_facts --compact=True             # reclaim forgotten texts' space
    python build_memory.py config/smollm2/sample_recall_my_facts.py --kv=recompute --mem_store=stores/small
"""
import sys
from pathlib import Path

from configurator import ConfigError, configure, read_text
from mtm.entry import store_kv_dtype, store_layers_for
from mtm.loading import WeightsUnavailable, load_model, model_facts
from mtm.method.settings import MemorySettings, MemorySettingsError, method_defaults, with_facts
from mtm.storage import disk
from mtm.storage.reading import memory_texts
from mtm.storage.store import MemoryStoreError

# -----------------------------------------------------------------------------
init_from = "smollm2"  # the model the memory is for (as sample.py's default): the store fits only its weights
memory = ""  # memory text, or FILE:path
mem_store = "mem_store"  # output directory
layers = [6, 7, 8]  # layers (0-based) to keep keys/values for, where no template's knn_num says which
all_layers = False  # True: every layer (what the recall setting reads)
index = "flat"  # 'flat' (exact), or FAISS's approximate 'ivf' (or 'hnsw') for very large memories
kv_dtype = "auto"  # stored keys and values: 'float32', 'float16' or 'bfloat16'; 'auto': float16 for stores of every
# layer and kv='recompute' ones, float32 for the paper's few-layer stores (mtm.entry.store_kv_dtype)
kv = "stored"  # 'stored': keys and values of the layers; 'recompute': the keys of the chooser's layers (chunk_layers)
# and the token ids only: chunk retrieval reads its chosen chunks again
append = False  # True: add the text to the existing store at mem_store (new segments only)
one_text_per_line = False  # each non-empty line is its own text (a fact), read on its own: one chunk each
forget_texts = []  # text numbers (from 0) to forget: never chosen, searched or read again
forget_match = ""  # forget every text that holds this string
compact = False  # True: rewrite the segments that hold forgotten texts without them
device = "cpu"
dtype = "float32"
# the method's settings (mtm/method/settings.py): a template's knn_num and chunk settings say which layers to keep
# -----------------------------------------------------------------------------


def main():
    cfg = with_facts(configure(globals(), more=method_defaults(), others_in_templates=True), model_facts(init_from))
    settings = MemorySettings.of(dict(cfg, knn_num=cfg["knn_num"] or [0]))
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
        n_layer = model.config.n_layer
        chosen = (list(range(n_layer)) if all_layers else store_layers_for(settings, kv) if any(settings.knn_num)
                  else layers)
        store = disk.build_on_disk(Path(mem_store), model, tokenizer, texts, chosen, settings.bookkeeping_token,
                                   index, store_kv_dtype(kv_dtype, chosen, n_layer, kv), kv=kv)
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
    except (ConfigError, MemoryStoreError, MemorySettingsError, WeightsUnavailable) as e:
        sys.exit(f"error: {e}")

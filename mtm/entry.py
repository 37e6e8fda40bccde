"""
The one way in: open a memory for a model, from memory texts read now or from a store that build_memory.py made,
with one settings object. Every script, task and benchmark part opens its memories here.

    model, tokenizer = load_model("smollm2")
    settings = MemorySettings.of(template("config/smollm2/recall_setting.py"), facts=model_facts("smollm2"))
    memory = open_memory(model, tokenizer, settings, texts=["The spare key is under the blue pot.", ...])
    out = generate(model, ids, 20, memory=memory)
"""
from dataclasses import replace

from memory import Memory
from mtm.loading import facts_of_model
from mtm.method.chunks import hub_prompts
from mtm.method.relevance import rarity_for
from mtm.method.settings import with_facts
from mtm.storage import disk
from mtm.storage.reading import build_store, memory_texts
from mtm.storage.store import MemoryStore, MemoryStoreError, check_store


def store_kv_dtype(kv_dtype, layers, n_layer, kv="stored"):
    """'auto': float16 for a store of every layer and for kv='recompute' (the recall setting's: half the bytes),
    float32 for the paper's few-layer stores (their results are float32's); else kv_dtype itself."""
    if kv_dtype != "auto":
        return kv_dtype
    return "float16" if kv == "recompute" or len(set(layers)) == n_layer else "float32"


def store_layers_for(settings, kv="stored"):
    """The layers a store for these settings keeps: kv='recompute' keeps the chooser's keys only."""
    return list(settings.chunk_layers) if kv == "recompute" else settings.store_layers


def for_model(settings, model):
    """The settings with those left None filled by the loaded model's facts (mtm.loading.facts_of_model)."""
    return replace(settings, **with_facts(vars(settings), facts_of_model(model)))


def open_memory(model, tokenizer, settings, texts=None, store=None, one_text_per_line=False, kv="stored",
                kv_dtype="auto", index="flat", device=None, progress=False, **options):
    """
    A Memory for the model under settings (a MemorySettings; those it leaves None take the model's facts):
    texts, a memory text (each non-empty line its own text where one_text_per_line) or a list of texts, read into a
    store in RAM now (kv, kv_dtype, index: how it keeps them, as build_memory.py's settings); or store, a store
    directory or a MemoryStore. The store is checked against the model and the settings: one line
    (MemoryStoreError) where they disagree. options: Memory's trace, mode, stats.
    """
    if (texts is None) == (store is None):
        raise MemoryStoreError("open a memory from texts or from a store, one of them")
    settings = for_model(settings, model)
    if texts is not None:
        texts = memory_texts(texts, one_text_per_line) if isinstance(texts, str) else list(texts)
        layers = store_layers_for(settings, kv)
        store = build_store(model, tokenizer, texts, layers, settings.bookkeeping_token, progress=progress,
                            index=index, kv_dtype=store_kv_dtype(kv_dtype, layers, model.config.n_layer, kv), kv=kv)
    elif not isinstance(store, MemoryStore):
        store = disk.load_store(store)
    check_store(store, model, settings)
    if device is not None:
        store.to(device)
    return Memory(store, settings, rarity=rarity_for(settings, tokenizer, model), hub=hub_prompts(settings, tokenizer),
                  **options)

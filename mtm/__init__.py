"""
mtm: the library under the scripts. Its folders are the layers, each importing only the ones before it here:

    method/     the method's parts (settings, attention, retrieval, the chunk chooser, the relevance decision);
                memory.py, on top, holds the hook every attention calls and the paper's blend
    families/   the model families beside model.py (GPT-2): Llama (SmolLM2) and Gemma 3
    generation  the KV cache and sampling, for every family
    loading     the registry of families and their facts, checkpoints, tokenizers; embedded: the bundled GGUFs
    storage/    the store: its data, search backends, reading text into it, its directory on disk
    entry       open_memory: the one way a script, task or benchmark opens a memory
    tasks/      the evaluation tasks, one module each of one shape
    trained/    the trained memories compared with the method (MQAR, sliding window, lucidrains' peers, GPTm)
"""

"""
bench.py's report, part by part: each module measures one section and prints it, from the settings bench.py
passes as a dict (cfg), and adds its rows' targets and peak RSS to the lists the closing tables print.

    common      what the parts share: timing on a shared machine, the random GPT-2, the method's settings, tables
    throughput  tokens/s with and without memory beside transformers' generate
    context     the memory's per-token overhead against the context length
    size        the memory's per-token overhead against the memory's size (a synthesised store, FAISS indexes)
    recall      the recall setting's per-token cost against the number of facts held
    scale       a memory that grows: scripts/scale.py, in its own process

Only bench.py imports this package.
"""

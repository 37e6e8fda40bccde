# The fact benchmark (data/facts/) on SmolLM2-135M-Instruct: recall of one fact among n = 1 ... 10,000 in one
# memory, for the question alone, the fact's paragraph in the context, all n paragraphs in the context (while
# they fit), the BM25-best paragraph in the context, and the method with the recall setting chosen on dev
# (docs/results.md): chunk retrieval. Three query heads of layer 17 choose the one memory text that best matches
# the question; if its score reaches 2.8 (chosen on dev: 9 in 10 neighbour questions then do not take up the
# fact's answer), every layer's attention reads that text's stored keys and values, laid out before the context after
# the bookkeeping token they were read after.
# Teacher-forced scores for every fact; sampling (10 seeds x 20 tokens) for the first 40 facts, for cost on 2 CPU
# cores; all n paragraphs in the context only while they fit 1024 tokens (n = 100 takes 3,500: 30 s a prompt here).
# Report on test; tune on dev (--facts_split=dev).
# python evaluate.py config/eval_facts_smollm2.py
mode = "facts"
init_from = "smollm2"
out_dir = "out/facts_smollm2_test"
facts_split = "test"
fact_counts = [1, 10, 100, 1000]
conditions = ["question", "in_context", "all_in_context", "bm25", "method"]
num_seeds = 10
sample_facts = 40
max_new_tokens = 20
all_in_context_max_tokens = 1024
knn_num = [1000] * 30  # every layer reads all tokens of the chosen text (k >= its length)
retrieval = "attention"
search = "query_ip"
chunk_select = 1
chunk_by = "text"
chunk_layers = [17]
chunk_heads = [3, 4, 5]  # the heads of layer 17 that best tell a fact from its neighbours (dev)
chunk_min_score = 2.8  # read the chosen text only if it matches this well (dev: 9 in 10 questions about a
# similar entity then stay clear of the fact; a question about the fact itself passes 7 times in 10). Lower it
# to read more: 2.4 (dev: top-1 0.630, specificity 0.80), None (0.669, 0.21)
mem_position = "before"
mem_sink = True  # the bookkeeping token laid out before the fact: the attention sink it was read after
memory_mode = "cached"
title = "SmolLM2, fact benchmark (test split): recall of one fact among n"

# Choosing Gemma 3 270M's recall gate on the fact benchmark's dev split: the chunk chooser (chunk_layers [5],
# chunk_heads [1, 2, 3], picked by the dev analysis in docs/results.md) with no gate, so that every record keeps its
# chosen text's score and any gate can be applied afterwards exactly; teacher-forced only (no sampling); the question
# alone, the paragraph in the context and the method, each fact alone in memory (n = 1).
# python evaluate.py config/eval_facts_dev_gemma3.py
mode = "facts"
init_from = "gemma3"
out_dir = "out/facts_gemma3_dev"
facts_split = "dev"
fact_counts = [1]
conditions = ["question", "in_context", "method"]
num_seeds = 0
bookkeeping_token = "<bos>"
knn_num = [1000] * 18
retrieval = "attention"
search = "query_ip"
chunk_select = 1
chunk_by = "text"
chunk_layers = [5]
chunk_heads = [1, 2, 3]
chunk_min_score = None
mem_position = "before"
mem_sink = True
memory_mode = "cached"
title = "Gemma 3 270M, fact benchmark (dev split), no gate"

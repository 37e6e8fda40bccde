# Recall of a fact of your own on Gemma 3 270M: question only, the memory text in the context, and the
# method with the recall setting chosen on the fact benchmark's dev split (chunk retrieval; see
# config/sample_gemma3_type_2_method.py and docs/results.md); then with the answer replaced in the memory by
# other words (hits count the substitute, original_hits the original answer).
# Edit start, memory and answer for your own facts (one fact per line in the memory file).
# python evaluate.py config/eval_recall_gemma3.py
mode = "recall"
init_from = "gemma3"
out_dir = "out/recall_gemma3"
start = "\nThe spare key to the allotment shed is hidden under the"
memory = "FILE:data/my_facts.txt"
one_text_per_line = True
answer = "blue"
num_seeds = 100
max_new_tokens = 20
bookkeeping_token = "<bos>"
knn_num = [1000] * 18
retrieval = "attention"
search = "query_ip"
chunk_select = 1
chunk_by = "text"
chunk_layers = [5]
chunk_heads = [1, 2, 3]  # the heads of layer 5 that best tell a fact from its neighbours (dev)
chunk_min_score = 16.6  # read the chosen text only if it matches this well (dev, n = 1: 9 in 10 questions about a
# similar entity then stay clear of the fact; 6 in 10 questions about the fact pass). Lower it to read more:
# 16.0 (dev: top-1 0.547, specificity 0.79), None (0.657, 0.02)
mem_position = "before"
mem_sink = True  # the bookkeeping token laid out before the fact: the attention sink it was read after
memory_mode = "cached"
conditions = ["question", "in_context", "method"]
substitutes = ["red", "green", "yellow"]
title = "Gemma 3 270M recall of your own fact: question only / memory in context / chunk retrieval"

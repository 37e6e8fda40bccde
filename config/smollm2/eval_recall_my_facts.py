# Recall of a fact of your own on SmolLM2-135M-Instruct: question only, the memory text in the context, and the
# method with the recall setting chosen on the fact benchmark's dev split (chunk retrieval; see
# config/sample_smollm2_type_2_method.py and docs/results.md); then with the answer replaced in the memory by
# other words (hits count the substitute, original_hits the original answer).
# Edit start, memory and answer for your own facts (one fact per line in the memory file).
# python evaluate.py config/eval_recall_smollm2.py
mode = "recall"
init_from = "smollm2"
out_dir = "out/recall_smollm2"
start = "\nThe spare key to the allotment shed is hidden under the"
memory = "FILE:data/my_facts.txt"
one_text_per_line = True
answer = "blue"
num_seeds = 100
max_new_tokens = 20
knn_num = [1000] * 30
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
conditions = ["question", "in_context", "method"]
substitutes = ["red", "green", "yellow"]
title = "SmolLM2 recall of your own fact: question only / memory in context / chunk retrieval"

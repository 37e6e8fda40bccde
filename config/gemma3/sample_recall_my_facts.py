# Recall of your own facts on Gemma 3 270M: chunk retrieval, the setting chosen on the dev split of the fact
# benchmark and reported on its test split (docs/results.md, "Gemma 3 270M"). Each line of the memory file is one
# fact, read on its own after <bos>. For a prompt, three query heads of layer 5 (the first global layer) score every
# fact against the stored keys and choose the best one; if it matches well enough (chunk_min_score), every layer's
# attention reads that fact's stored keys and values, laid out just before the prompt, in the same softmax as the
# prompt (local layers too: memory entries are never cut by the sliding window).
# python sample.py config/sample_gemma3_type_2_method.py
init_from = "gemma3"
start = "\nThe spare key to the allotment shed is hidden under the"
num_samples = 3
max_new_tokens = 30
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/my_facts.txt"
one_text_per_line = True  # each line is a fact: one chunk
bookkeeping_token = "<bos>"
knn_num = [1000] * 18  # every layer reads every token of the chosen fact (k >= its length)
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
unadulterated_gpt = True
method_text = "chunk retrieval on Gemma 3 270M"
explain = True

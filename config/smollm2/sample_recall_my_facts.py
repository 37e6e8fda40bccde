# Recall of your own facts on SmolLM2-135M-Instruct: chunk retrieval, the setting chosen on the dev split of
# the fact benchmark and reported on its test split (docs/results.md). Each line of the memory file is one
# fact, read on its own. For a prompt, three query heads of layer 17 score every fact against the stored keys
# and choose the best one; if it matches well enough (chunk_min_score), every layer's attention reads that fact's
# stored keys and values, laid out just before the prompt, in the same softmax as the prompt. (The file name is
# kept from the paper's Type 2 recall template; the paper's own Vancouver setting is
# config/sample_smollm2_type_2_vancouver.py.)
# python sample.py config/sample_smollm2_type_2_method.py
init_from = "smollm2"
start = "\nThe spare key to the allotment shed is hidden under the"
num_samples = 3
max_new_tokens = 30
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/my_facts.txt"
one_text_per_line = True  # each line is a fact: one chunk
bookkeeping_token = "\n"
knn_num = [1000] * 30  # every layer reads every token of the chosen fact (k >= its length)
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
unadulterated_gpt = True
method_text = "chunk retrieval on SmolLM2"
explain = True

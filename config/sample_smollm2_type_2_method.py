# Recall of your own facts on SmolLM2-135M-Instruct: chunk retrieval, the setting chosen on the dev split of
# the fact benchmark and reported on its test split (docs/results.md). Each line of the memory file is one
# fact, read on its own. For a prompt, three query heads of layer 17 score every fact against the stored keys
# and choose the best one; if it matches well enough (chunk_min_score), every layer's attention reads that fact's
# stored keys and values, laid out just before the prompt, in the same softmax as the prompt. (The file name is kept from the paper's Type 2
# recall template; the paper's own Vancouver setting is config/sample_smollm2_type_2_vancouver.py.)
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
chunk_min_score = 2.8  # the chosen text is read only if it matches this well (chosen on dev: neighbour specificity 0.9)
mem_position = "before"
mem_sink = True  # the bookkeeping token laid out before the fact: the attention sink it was read after
memory_mode = "cached"
unadulterated_gpt = True
method_text = "chunk retrieval on SmolLM2"
explain = True

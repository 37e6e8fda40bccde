# The paper's Fig. 13 on GPT-2 small: every "Vancouver" in the memory replaced by another city; does the
# continuation name the substitute (hits) or the original (original_hits)? Table 4 settings.
mode = "recall"
init_from = "gpt2"
out_dir = "out/recall_substitution_gpt2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 100
max_new_tokens = 100
knn_num = [0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0]
mem_frac = 0.0
bookkeeping_frac = 0.9
knn_softmax_influence = 1000.0
resid_only = True
resid_frac = 0.1
memory_mode = "exact"
title = "GPT-2 recall with the answer substituted in memory (Fig. 13)"
substitutes = ["Toronto", "Montreal", "Calgary", "Ottawa", "Edmonton"]

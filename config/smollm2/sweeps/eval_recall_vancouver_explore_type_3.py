# Recall on SmolLM2 with many token-heads: Type 3, MF 5, BF 0.9, TS 1, r 0.33 (compare Table 4 settings in
# eval_recall_vancouver_layers.py and eval_recall_vancouver_explore_type_2.py).
# 20 seeds, 12 tokens: recall is decided by the first word.
# python evaluate.py config/smollm2/sweeps/eval_recall_vancouver_explore_type_3.py
mode = "recall"
init_from = "smollm2"
out_dir = "out/recall_explore_type3_smollm2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 20
max_new_tokens = 12
knn = 5
mem_frac = 5.0
bookkeeping_frac = 0.9
knn_softmax_influence = 1.0
resid_only = False
resid_frac = 0.33
memory_mode = "cached"
conditions = ["question", "in_context", "method"]
sweep_key = "layers"
sweep_values = [[i] for i in range(14, 28, 2)] + [list(range(18, 24)), list(range(12, 24)), list(range(20, 30))]
title = "SmolLM2 recall: Type 3, MF 5, BF 0.9, TS 1, r 0.33"

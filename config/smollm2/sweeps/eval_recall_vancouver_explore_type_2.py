# Recall on SmolLM2 beyond Table 4's settings, which did not beat the question alone in any single layer
# (eval_recall_vancouver_layers.py). Type 2 with BF 0 (the first position always selected) and several layers.
# 20 seeds, 12 tokens: recall is decided by the first word.
# python evaluate.py config/smollm2/sweeps/eval_recall_vancouver_explore_type_2.py
mode = "recall"
init_from = "smollm2"
out_dir = "out/recall_explore_smollm2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 20
max_new_tokens = 12
knn = 5
mem_frac = 0.0
bookkeeping_frac = 0.0
knn_softmax_influence = 1000.0
resid_only = True
resid_frac = 0.1
memory_mode = "cached"
conditions = ["question", "in_context", "method"]
sweep_key = "layers"
sweep_values = [[i] for i in range(14, 28, 2)] + [list(range(18, 24)), list(range(12, 24)), list(range(20, 30))]
title = "SmolLM2 recall: Type 2, MF 0, BF 0, TS 1000, r 0.1"

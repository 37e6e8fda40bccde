# The paper's Fig. 8 on GPT-2 small: recall with the Type 1 method (BF 0.1, MF 1, TS 1, k 3) in each layer.
# python evaluate.py config/paper/eval_recall_layers_type_1_fig8.py
mode = "recall"
init_from = "gpt2"
out_dir = "out/recall_layers_type1_gpt2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 100
max_new_tokens = 100
knn = 3
mem_frac = 1.0
bookkeeping_frac = 0.1
knn_softmax_influence = 1.0
resid_only = False
resid_frac = 0.0
memory_mode = "exact"
conditions = ["question", "in_context", "method"]
sweep_key = "layers"
sweep_values = [[i] for i in range(12)] + [[9, 10]]
title = "GPT-2 recall layer sweep, Type 1 (Fig. 8)"

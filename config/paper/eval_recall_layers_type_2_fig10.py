# The paper's Fig. 10 on GPT-2 small: recall with the Type 2 method (BF 0.9, MF 5, TS 1000, k 5, r 0.1) in each layer.
# python evaluate.py config/paper/eval_recall_layers_type_2_fig10.py
mode = "recall"
init_from = "gpt2"
out_dir = "out/recall_layers_type2_gpt2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 100
max_new_tokens = 100
knn = 5
mem_frac = 5.0
bookkeeping_frac = 0.9
knn_softmax_influence = 1000.0
resid_only = True
resid_frac = 0.1
memory_mode = "exact"
conditions = ["question", "in_context", "method"]
sweep_key = "layers"
sweep_values = [[i] for i in range(12)] + [[9, 10]]
title = "GPT-2 recall layer sweep, Type 2 (Fig. 10)"

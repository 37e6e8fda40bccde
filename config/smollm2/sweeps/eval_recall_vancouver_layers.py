# Layer sweep for recall on SmolLM2 (choosing the layer of config/smollm2/sample_recall_vancouver.py):
# the Type 2 method with Table 4's parameters in each single layer of 30. Recall is decided by the
# first word, so 12 new tokens suffice; 20 seeds per point, cached mode.
# python evaluate.py config/smollm2/sweeps/eval_recall_vancouver_layers.py
mode = "recall"
init_from = "smollm2"
out_dir = "out/recall_layers_smollm2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 20
max_new_tokens = 12
knn = 5
mem_frac = 0.0
bookkeeping_frac = 0.9
knn_softmax_influence = 1000.0
resid_only = True
resid_frac = 0.1
memory_mode = "cached"
conditions = ["question", "in_context", "method"]
sweep_key = "layers"
sweep_values = [[i] for i in range(30)]
title = "SmolLM2 recall: Type 2 (Table 4 parameters) in one layer, 20 seeds"

# Layer sweep for sentiment on SmolLM2 (choosing the layers of config/sample_smollm2_type_3_method.py):
# the Type 3 method with Table 1's parameters in every window of 3 consecutive layers of 30.
# A reduced protocol (20 seeds x 50 tokens, cached mode) so the sweep runs in minutes on 2 cores.
# python evaluate.py config/smollm2/sweeps/eval_sentiment_layers.py
mode = "sentiment"
init_from = "smollm2"
out_dir = "out/sentiment_layers_smollm2"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 20
max_new_tokens = 50
knn = 5
mem_frac = 5.0
bookkeeping_frac = 0.9
knn_softmax_influence = 0.01
resid_only = False
resid_frac = 0.33
memory_mode = "cached"
sweep_key = "layers"
sweep_values = [[i, i + 1, i + 2] for i in range(0, 30, 3)]
title = "SmolLM2 sentiment: Type 3 (Table 1 parameters) in 3 consecutive layers, 20 seeds x 50 tokens"

# Exact vs cached memory mode on SmolLM2 (choosing the default mode of the SmolLM2 templates):
# the Type 3 method with Table 1's parameters in layers 12-23 (0-based), 20 seeds x 50 tokens.
# python evaluate.py config/smollm2/sweeps/eval_sentiment_modes_L12-23.py
mode = "sentiment"
init_from = "smollm2"
out_dir = "out/sentiment_modes_L12-23_smollm2"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 20
max_new_tokens = 50
knn_num = [5 if 12 <= _i < 24 else 0 for _i in range(30)]
mem_frac = 5.0
bookkeeping_frac = 0.9
knn_softmax_influence = 0.01
resid_only = False
resid_frac = 0.33
baseline = False
sweep_key = "memory_mode"
sweep_values = ["cached", "exact"]
title = "SmolLM2 sentiment, layers 12-23: cached vs exact mode, 20 seeds x 50 tokens"

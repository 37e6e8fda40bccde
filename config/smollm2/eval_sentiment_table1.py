# Sentiment on SmolLM2-135M-Instruct, the paper's protocol: 100 seeds x 100 tokens, without and with
# memory. The settings of config/sample_smollm2_type_3_method.py: Type 3 with Table 1's parameters
# (k 5, MF 5, BF 0.9, TS 0.01, r 0.33) in layers 12-23, cached mode.
# python evaluate.py config/eval_sentiment_smollm2.py
mode = "sentiment"
init_from = "smollm2"
out_dir = "out/sentiment_smollm2"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100
knn_num = [5 if 12 <= _i <= 23 else 0 for _i in range(30)]
mem_frac = 5.0
bookkeeping_frac = 0.9
knn_softmax_influence = 0.01
resid_only = False
resid_frac = 0.33
memory_mode = "cached"
title = "SmolLM2 sentiment: no memory vs Type 3 in layers 12-23 (cached), 100 seeds x 100 tokens"

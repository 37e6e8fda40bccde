# Sentiment on Gemma 3 270M (a base model), the paper's protocol: 100 seeds x 100 tokens, without and with memory.
# The settings of config/sample_gemma3_type_3_method.py: Type 3 with Table 1's parameters (k 5, MF 5, BF 0.9,
# TS 0.01, r 0.33) in layers 6-11 (chosen by eval_sentiment_layers_gemma3.py and its _fine_ sweep), cached mode.
# python evaluate.py config/eval_sentiment_gemma3.py
mode = "sentiment"
init_from = "gemma3"
out_dir = "out/sentiment_gemma3"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
bookkeeping_token = "<bos>"
num_seeds = 100
max_new_tokens = 100
knn_num = [5 if 6 <= _i <= 11 else 0 for _i in range(18)]
mem_frac = 5.0
bookkeeping_frac = 0.9
knn_softmax_influence = 0.01
resid_only = False
resid_frac = 0.33
memory_mode = "cached"
title = "Gemma 3 270M sentiment: no memory vs Type 3 in layers 6-11 (cached), 100 seeds x 100 tokens"

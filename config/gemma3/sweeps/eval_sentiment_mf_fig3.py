# The paper's Fig. 3 on Gemma 3 270M: sweep of mem_frac around the settings of config/eval_sentiment_gemma3.py
# (Type 3, Table 1's k 5, BF 0.9, TS 0.01, r 0.33, layers 6-11, cached); its MF 5 point is that run's method row.
# python evaluate.py config/eval_sentiment_mf_gemma3.py
mode = "sentiment"
init_from = "gemma3"
out_dir = "out/sentiment_mf_gemma3"
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
baseline = False
sweep_key = "mem_frac"
sweep_values = [0.1, 1.0, 10.0]  # three of Fig. 3's values, for time on 2 cores; MF 5 is eval_sentiment_gemma3.py's row
title = "Gemma 3 270M sentiment, mem_frac sweep (Fig. 3), layers 6-11, cached"

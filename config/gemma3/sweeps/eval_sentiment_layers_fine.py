# Finer layer sweep for sentiment on Gemma 3 270M around the best windows of eval_sentiment_layers.py
# (layers 6-8 and 9-11): shifted windows of 3 and wider windows, same reduced protocol (20 seeds x 50 tokens).
# python evaluate.py config/gemma3/sweeps/eval_sentiment_layers_fine.py
mode = "sentiment"
init_from = "gemma3"
out_dir = "out/sentiment_layers_fine_gemma3"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
bookkeeping_token = "<bos>"
num_seeds = 20
max_new_tokens = 50
knn = 5
mem_frac = 5.0
bookkeeping_frac = 0.9
knn_softmax_influence = 0.01
resid_only = False
resid_frac = 0.33
memory_mode = "cached"
baseline = False
sweep_key = "layers"
sweep_values = [[7, 8, 9], [8, 9, 10], [6, 7, 8, 9], [6, 7, 8, 9, 10, 11], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]]
title = "Gemma 3 270M sentiment: Type 3 (Table 1 parameters), windows around layers 6-11, 20 seeds x 50 tokens"

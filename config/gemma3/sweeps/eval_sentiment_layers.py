# Layer sweep for sentiment on Gemma 3 270M (choosing the layers of config/sample_gemma3_type_3_method.py): the
# Type 3 method with Table 1's parameters in every window of 3 consecutive layers of 18 (each window holds local
# layers, and windows 3-5, 9-11, 15-17 a global one). A reduced protocol (20 seeds x 50 tokens, cached mode) so the
# sweep runs in minutes on 2 cores.
# python evaluate.py config/gemma3/sweeps/eval_sentiment_layers.py
mode = "sentiment"
init_from = "gemma3"
out_dir = "out/sentiment_layers_gemma3"
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
sweep_key = "layers"
sweep_values = [[i, i + 1, i + 2] for i in range(0, 18, 3)]
title = "Gemma 3 270M sentiment: Type 3 (Table 1 parameters) in 3 consecutive layers, 20 seeds x 50 tokens"

# Sentiment direction with the Type 3 method, the paper's Table 1 settings.
# Memory: five upbeat sentences about cats; prompt: "Cats are horrible".
# Layers 7, 8, 9 in the paper's 1-based numbering are indices 6, 7, 8 of knn_num.
# python sample.py config/sample_gpt2_type_3_method.py
init_from = "gpt2"
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/cats.txt"
bookkeeping_token = "\n"  # creation 2
knn_num = [0, 0, 0, 0, 0, 0, 5, 5, 5, 0, 0, 0]  # k = 5 in layers 7, 8, 9
mem_frac = 5.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 0.01  # TS
resid_only = False  # Type 3: the token's own key/value stay candidates ...
resid_frac = 0.33  # ... and a third of the old value is kept
unadulterated_gpt = True  # print the no-memory continuation (same seed) first
method_text = "Type 3 method (Table 1): layers 7-9, k 5, MF 5, BF 0.9, TS 0.01, r 0.33"

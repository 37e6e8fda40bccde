# Sentiment direction on SmolLM2-135M-Instruct with the Type 3 method: the paper's Table 1
# parameters (k 5, MF 5, BF 0.9, TS 0.01, r 0.33) in the layers a measured sweep chose
# (docs/layer_sweep.md). Cached memory mode: it gave the same VADER distribution as exact mode there
# (docs/results.md) at a fraction of the cost. Memory: five upbeat sentences about cats; prompt: "Cats are horrible".
# python sample.py config/sample_smollm2_type_3_method.py
init_from = "smollm2"
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/cats.txt"
bookkeeping_token = "\n"  # creation 2
knn_num = [5 if 12 <= _i <= 23 else 0 for _i in range(30)]  # k = 5 in layers 12-23 (0-based) of 30
mem_frac = 5.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 0.01  # TS
resid_only = False  # Type 3
resid_frac = 0.33
memory_mode = "cached"
unadulterated_gpt = True  # print the no-memory continuation (same seed) first
method_text = "Type 3 method on SmolLM2"

# Sentiment direction on Gemma 3 270M (a base model, like the paper's GPT-2) with the Type 3 method: the paper's
# Table 1 parameters (k 5, MF 5, BF 0.9, TS 0.01, r 0.33) in the layers a measured sweep chose (docs/results.md,
# "Gemma 3 270M"). Memory: five upbeat sentences about cats, each read after <bos> (Gemma's attention sink, as
# the prompt is); prompt: "Cats are horrible".
# python sample.py config/sample_gemma3_type_3_method.py
init_from = "gemma3"
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/cats.txt"
bookkeeping_token = "<bos>"  # creation 2: prepended to the memory text, then dropped
knn_num = [5 if 6 <= _i <= 11 else 0 for _i in range(18)]  # k = 5 in layers 6-11 (0-based) of 18
mem_frac = 5.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 0.01  # TS
resid_only = False  # Type 3
resid_frac = 0.33
memory_mode = "cached"
unadulterated_gpt = True  # print the no-memory continuation (same seed) first
method_text = "Type 3 method on Gemma 3 270M"

# Recall with the Type 2 method, the paper's Table 4 settings.
# Memory: a paragraph about Vancouver; prompt: a question whose answer is in it.
# Layer 10 in the paper's 1-based numbering is index 9 of knn_num. MF = 0 with BF 0.9:
# only the first (bookkeeping) position can be selected, in a few heads.
# python sample.py config/sample_gpt2_type_2_method.py
init_from = "gpt2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/vancouver.txt"
bookkeeping_token = "\n"  # creation 2
knn_num = [0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0]  # k = 5 in layer 10
mem_frac = 0.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 1000.0  # TS
resid_only = True  # Type 2: only stored entries are candidates ...
resid_frac = 0.1  # ... and a tenth of the old value is kept
unadulterated_gpt = True
method_text = "Type 2 method (Table 4): layer 10, k 5, MF 0, BF 0.9, TS 1000, r 0.1"

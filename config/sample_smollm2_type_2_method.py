# Recall on SmolLM2-135M-Instruct with the Type 2 method: the paper's Table 4 parameters
# (k 5, MF 0, BF 0.9, TS 1000, r 0.1) in the layer a measured sweep chose (docs/layer_sweep.md).
# Memory: a paragraph about Vancouver; prompt: a question whose answer is in it.
# python sample.py config/sample_smollm2_type_2_method.py
init_from = "smollm2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/vancouver.txt"
bookkeeping_token = "\n"  # creation 2
_layers = [20]  # 0-based layer index of SmolLM2's 30 (provisional: see docs/layer_sweep.md)
knn_num = [5 if i in _layers else 0 for i in range(30)]
mem_frac = 0.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 1000.0  # TS
resid_only = True  # Type 2
resid_frac = 0.1
unadulterated_gpt = True
method_text = "Type 2 method on SmolLM2"

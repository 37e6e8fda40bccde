# The paper's Vancouver recall with the Type 2 method, reproduced on SmolLM2-135M-Instruct: Table 4's parameters (k 5, MF 0, TS 1000,
# r 0.1) but BF 0, in layers 18-23. Measured (docs/layer_sweep.md): with Table 4's BF 0.9 no single
# layer beat the question alone (SmolLM2 rarely gives the first position > 0.9 of the newest token's
# attention, so nothing was selected); with BF 0 the first position is always selected, and one layer
# was not enough, six were.
# Memory: a paragraph about Vancouver; prompt: a question whose answer is in it.
# Chosen on this one example: on held-out facts it recalls nothing (docs/results.md); for recall of your own
# facts use config/sample_smollm2_type_2_method.py.
# python sample.py config/sample_smollm2_type_2_vancouver.py
init_from = "smollm2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/vancouver.txt"
bookkeeping_token = "\n"  # creation 2
knn_num = [5 if 18 <= _i <= 23 else 0 for _i in range(30)]  # k = 5 in layers 18-23 (0-based) of 30
mem_frac = 0.0  # MF: only the first position can be selected ...
bookkeeping_frac = 0.0  # BF: ... and it always is
knn_softmax_influence = 1000.0  # TS
resid_only = True  # Type 2
resid_frac = 0.1
memory_mode = "cached"
unadulterated_gpt = True
method_text = "Type 2 method on SmolLM2"

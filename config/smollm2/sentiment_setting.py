# SmolLM2-135M-Instruct's sentiment setting: the Type 3 method with the paper's Table 1 parameters (k 5, MF 5,
# BF 0.9, TS 0.01, r 0.33) in layers 12-23 (0-based) of 30, chosen by sweeps/eval_sentiment_layers.py and
# sweeps/eval_sentiment_layers_fine.py (docs/layer_sweep.md); cached mode, which gave the same VADER distribution
# as exact mode (sweeps/eval_sentiment_modes_L12-23.py) at a fraction of the cost.
# Not a template: executed by the templates that use it (config/README.md), which may change any of it after.
bookkeeping_token = "\n"  # creation 2: prepended to the memory text, then dropped
knn_num = [5 if 12 <= _i <= 23 else 0 for _i in range(30)]  # k = 5 in layers 12-23 (0-based) of 30
mem_frac = 5.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 0.01  # TS
resid_only = False  # Type 3
resid_frac = 0.33
memory_mode = "cached"

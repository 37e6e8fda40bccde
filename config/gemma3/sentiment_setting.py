# Gemma 3 270M's sentiment setting: the Type 3 method with the paper's Table 1 parameters (k 5, MF 5, BF 0.9,
# TS 0.01, r 0.33) in layers 6-11 (0-based) of 18, chosen by sweeps/eval_sentiment_layers.py and
# sweeps/eval_sentiment_layers_fine.py (docs/results.md, "Gemma 3 270M"); cached mode. Memory texts are read
# after <bos> (Gemma's attention sink, as the prompt is).
# Not a template: executed by the templates that use it (config/README.md), which may change any of it after.
bookkeeping_token = "<bos>"  # creation 2: prepended to the memory text, then dropped
knn_num = [5 if 6 <= _i <= 11 else 0 for _i in range(18)]  # k = 5 in layers 6-11 (0-based) of 18
mem_frac = 5.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 0.01  # TS
resid_only = False  # Type 3
resid_frac = 0.33
memory_mode = "cached"

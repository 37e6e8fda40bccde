# The paper's Vancouver recall with the Type 2 method on SmolLM2-135M-Instruct: Table 4's parameters (k 5, MF 0,
# TS 1000, r 0.1) but BF 0, in layers 18-23, cached mode; chosen by sweeps/eval_recall_vancouver_*.py
# (docs/layer_sweep.md) on this one example: on held-out facts it recalls nothing (docs/results.md); the recall
# setting for facts of your own is recall_setting.py.
# Not a template: executed by the templates that use it (config/README.md), which may change any of it after.
bookkeeping_token = "\n"  # creation 2
knn_num = [5 if 18 <= _i <= 23 else 0 for _i in range(30)]  # k = 5 in layers 18-23 (0-based) of 30
mem_frac = 0.0  # MF: only the first position can be selected ...
bookkeeping_frac = 0.0  # BF: ... and it always is
knn_softmax_influence = 1000.0  # TS
resid_only = True  # Type 2
resid_frac = 0.1
memory_mode = "cached"

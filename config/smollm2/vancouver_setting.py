# SmolLM2's Vancouver recall: Type 2 with Table 4's parameters (../vancouver_setting.py) but BF 0, in layers 18-23,
# cached; chosen by sweeps/eval_recall_vancouver_*.py on this one example. For facts of your own: recall_setting.py.
base = "../vancouver_setting.py"
bookkeeping_frac = 0.0  # BF 0: the first position is always selected
knn_num = [5 if 18 <= _i <= 23 else 0 for _i in range(30)]  # k = 5 in layers 18-23 (0-based) of 30
memory_mode = "cached"

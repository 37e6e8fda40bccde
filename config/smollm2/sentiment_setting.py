# SmolLM2-135M-Instruct's sentiment setting: Type 3 with Table 1's parameters (../sentiment_setting.py) in the layers
# its sweeps chose (sweeps/eval_sentiment_layers*.py), cached mode (sweeps/eval_sentiment_modes_*.py).
base = "../sentiment_setting.py"
knn_num = [5 if 12 <= _i <= 23 else 0 for _i in range(30)]  # k = 5 in layers 12-23 (0-based) of 30
memory_mode = "cached"

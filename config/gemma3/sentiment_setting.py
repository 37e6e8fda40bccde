# Gemma 3 270M's sentiment setting: Type 3 with Table 1's parameters (../sentiment_setting.py) in the layers its
# sweeps chose (sweeps/eval_sentiment_layers*.py), cached mode.
base = "../sentiment_setting.py"
knn_num = [5 if 6 <= _i <= 11 else 0 for _i in range(18)]  # k = 5 in layers 6-11 (0-based) of 18
memory_mode = "cached"

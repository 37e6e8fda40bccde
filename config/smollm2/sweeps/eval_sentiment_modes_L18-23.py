# Exact vs cached memory mode on SmolLM2 (modes_setting.py), Type 3 in layers 18-23 (0-based).
# python evaluate.py config/smollm2/sweeps/eval_sentiment_modes_L18-23.py
base = "modes_setting.py"
init_from = "smollm2"
out_dir = "out/sentiment_modes_L18-23_smollm2"
knn_num = [5 if 18 <= _i < 24 else 0 for _i in range(30)]
title = "SmolLM2 sentiment, layers 18-23: cached vs exact mode, 20 seeds x 50 tokens"

# The paper's Fig. 3 on SmolLM2-135M-Instruct: sweep of knn_num around its sentiment setting (../sentiment_setting.py).
# python evaluate.py config/smollm2/sweeps/eval_sentiment_k_fig3.py
base = ["../../eval_sentiment_setting.py", "../sentiment_setting.py"]
init_from = "smollm2"
out_dir = "out/sentiment_k_smollm2"
baseline = False
sweep_key = "knn_num"
sweep_values = [[k if 12 <= _i <= 23 else 0 for _i in range(30)] for k in (1, 2, 3, 5, 10, 20)]
title = "SmolLM2 sentiment, knn_num sweep (Fig. 3), layers 12-23, cached"

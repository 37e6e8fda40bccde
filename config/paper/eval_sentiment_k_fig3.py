# The paper's Fig. 3 on GPT-2 small: sweep of knn_num around Table 1's setting (table1_setting.py), layers 7-9.
# python evaluate.py config/paper/eval_sentiment_k_fig3.py
base = ["../eval_sentiment_setting.py", "table1_setting.py"]
init_from = "gpt2"
out_dir = "out/sentiment_k_gpt2"
baseline = False
sweep_key = "knn_num"
sweep_values = [[0] * 6 + [k] * 3 + [0] * 3 for k in (1, 2, 3, 5, 10, 20)]
title = "GPT-2 sentiment, knn_num sweep (Fig. 3)"

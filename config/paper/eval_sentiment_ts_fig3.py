# The paper's Fig. 3 on GPT-2 small: sweep of knn_softmax_influence around Table 1's setting (table1_setting.py).
# python evaluate.py config/paper/eval_sentiment_ts_fig3.py
base = ["../eval_sentiment_setting.py", "table1_setting.py", "../fig3_ts_setting.py"]
init_from = "gpt2"
out_dir = "out/sentiment_ts_gpt2"
title = "GPT-2 sentiment, knn_softmax_influence sweep (Fig. 3)"

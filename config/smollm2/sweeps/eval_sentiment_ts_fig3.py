# The paper's Fig. 3 on SmolLM2-135M-Instruct: sweep of knn_softmax_influence around its sentiment setting
# (../sentiment_setting.py).
# python evaluate.py config/smollm2/sweeps/eval_sentiment_ts_fig3.py
base = ["../../eval_sentiment_setting.py", "../sentiment_setting.py", "../../fig3_ts_setting.py"]
init_from = "smollm2"
out_dir = "out/sentiment_ts_smollm2"
title = "SmolLM2 sentiment, knn_softmax_influence sweep (Fig. 3), layers 12-23, cached"

# The paper's Fig. 3 on SmolLM2-135M-Instruct: sweep of knn_softmax_influence around the settings of
# config/smollm2/eval_sentiment_table1.py (sentiment_setting.py: Type 3, Table 1's k 5, MF 5, BF 0.9, TS 0.01,
# r 0.33, layers 12-23, cached).
# python evaluate.py config/smollm2/sweeps/eval_sentiment_ts_fig3.py
from pathlib import Path

mode = "sentiment"
init_from = "smollm2"
out_dir = "out/sentiment_ts_smollm2"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parents[1] / "sentiment_setting.py").read_text())
baseline = False
sweep_key = "knn_softmax_influence"
sweep_values = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]
title = "SmolLM2 sentiment, knn_softmax_influence sweep (Fig. 3), layers 12-23, cached"

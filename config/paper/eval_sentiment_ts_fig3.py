# The paper's Fig. 3 on GPT-2 small: sweep of knn_softmax_influence around Table 1's settings (Type 3, layers 7-9;
# table1_setting.py).
# python evaluate.py config/paper/eval_sentiment_ts_fig3.py
from pathlib import Path

mode = "sentiment"
init_from = "gpt2"
out_dir = "out/sentiment_ts_gpt2"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parent / "table1_setting.py").read_text())
baseline = False
sweep_key = "knn_softmax_influence"
sweep_values = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]
title = "GPT-2 sentiment, knn_softmax_influence sweep (Fig. 3)"

# The paper's Fig. 3 on SmolLM2-135M-Instruct: sweep of knn_num around the settings of
# config/smollm2/eval_sentiment_table1.py (sentiment_setting.py: Type 3, Table 1's k 5, MF 5, BF 0.9, TS 0.01,
# r 0.33, layers 12-23, cached).
# python evaluate.py config/smollm2/sweeps/eval_sentiment_k_fig3.py
from pathlib import Path

mode = "sentiment"
init_from = "smollm2"
out_dir = "out/sentiment_k_smollm2"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parents[1] / "sentiment_setting.py").read_text())
baseline = False
sweep_key = "knn_num"
sweep_values = [[k if 12 <= _i <= 23 else 0 for _i in range(30)] for k in (1, 2, 3, 5, 10, 20)]
title = "SmolLM2 sentiment, knn_num sweep (Fig. 3), layers 12-23, cached"

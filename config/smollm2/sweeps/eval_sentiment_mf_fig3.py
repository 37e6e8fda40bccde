# The paper's Fig. 3 on SmolLM2-135M-Instruct: sweep of mem_frac around the settings of
# config/smollm2/eval_sentiment_table1.py (sentiment_setting.py: Type 3, Table 1's k 5, MF 5, BF 0.9, TS 0.01,
# r 0.33, layers 12-23, cached).
# python evaluate.py config/smollm2/sweeps/eval_sentiment_mf_fig3.py
from pathlib import Path

mode = "sentiment"
init_from = "smollm2"
out_dir = "out/sentiment_mf_smollm2"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parents[1] / "sentiment_setting.py").read_text())
baseline = False
sweep_key = "mem_frac"
sweep_values = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
title = "SmolLM2 sentiment, mem_frac sweep (Fig. 3), layers 12-23, cached"

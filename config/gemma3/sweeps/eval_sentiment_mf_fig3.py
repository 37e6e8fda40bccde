# The paper's Fig. 3 on Gemma 3 270M: sweep of mem_frac around the settings of config/gemma3/eval_sentiment_table1.py
# (sentiment_setting.py: Type 3, Table 1's k 5, BF 0.9, TS 0.01, r 0.33, layers 6-11, cached); its MF 5 point is
# that run's method row.
# python evaluate.py config/gemma3/sweeps/eval_sentiment_mf_fig3.py
from pathlib import Path

mode = "sentiment"
init_from = "gemma3"
out_dir = "out/sentiment_mf_gemma3"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parents[1] / "sentiment_setting.py").read_text())
baseline = False
sweep_key = "mem_frac"
sweep_values = [0.1, 1.0, 10.0]  # three of Fig. 3's values, for time on 2 cores; MF 5 is eval_sentiment_table1.py's row
title = "Gemma 3 270M sentiment, mem_frac sweep (Fig. 3), layers 6-11, cached"

# Sentiment on Gemma 3 270M (a base model), the paper's protocol: 100 seeds x 100 tokens, without and with memory.
# The settings of config/sample_gemma3_type_3_method.py (sentiment_setting.py): Type 3 with Table 1's parameters
# (k 5, MF 5, BF 0.9, TS 0.01, r 0.33) in layers 6-11 (chosen by sweeps/eval_sentiment_layers.py and its _fine
# sweep), cached mode.
# python evaluate.py config/gemma3/eval_sentiment_table1.py
from pathlib import Path

mode = "sentiment"
init_from = "gemma3"
out_dir = "out/sentiment_gemma3"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parent / "sentiment_setting.py").read_text())
title = "Gemma 3 270M sentiment: no memory vs Type 3 in layers 6-11 (cached), 100 seeds x 100 tokens"

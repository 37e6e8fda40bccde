# The paper's Table 1 on GPT-2 small: Type 3 in layers 7, 8, 9 (indices 6-8), k 5, MF 5, BF 0.9, TS 0.01,
# r 0.33 (table1_setting.py); 100 seeds x 100 tokens, without and with memory, exact mode (the paper's).
# Needs GPT-2's weights (internet once, or --init_from=/path/to/gpt2).
# python evaluate.py config/paper/eval_sentiment_table1.py
from pathlib import Path

mode = "sentiment"
init_from = "gpt2"
out_dir = "out/sentiment_gpt2"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parent / "table1_setting.py").read_text())
title = "GPT-2 sentiment, Table 1 settings"

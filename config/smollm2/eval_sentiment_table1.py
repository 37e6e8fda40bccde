# Sentiment on SmolLM2-135M-Instruct, the paper's protocol: 100 seeds x 100 tokens, without and with
# memory. The settings of config/sample_smollm2_type_3_method.py (sentiment_setting.py): Type 3 with Table 1's
# parameters (k 5, MF 5, BF 0.9, TS 0.01, r 0.33) in layers 12-23, cached mode.
# python evaluate.py config/smollm2/eval_sentiment_table1.py
from pathlib import Path

mode = "sentiment"
init_from = "smollm2"
out_dir = "out/sentiment_smollm2"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parent / "sentiment_setting.py").read_text())
title = "SmolLM2 sentiment: no memory vs Type 3 in layers 12-23 (cached), 100 seeds x 100 tokens"

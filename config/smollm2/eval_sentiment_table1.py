# Sentiment on SmolLM2-135M-Instruct, the paper's protocol, without and with memory: its sentiment setting.
# python evaluate.py config/smollm2/eval_sentiment_table1.py
base = ["../eval_sentiment_setting.py", "sentiment_setting.py"]
init_from = "smollm2"
out_dir = "out/sentiment_smollm2"
title = "SmolLM2 sentiment: no memory vs Type 3 in layers 12-23 (cached), 100 seeds x 100 tokens"

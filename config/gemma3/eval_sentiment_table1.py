# Sentiment on Gemma 3 270M (a base model), the paper's protocol, without and with memory: its sentiment setting.
# python evaluate.py config/gemma3/eval_sentiment_table1.py
base = ["../eval_sentiment_setting.py", "sentiment_setting.py"]
init_from = "gemma3"
out_dir = "out/sentiment_gemma3"
title = "Gemma 3 270M sentiment: no memory vs Type 3 in layers 6-11 (cached), 100 seeds x 100 tokens"

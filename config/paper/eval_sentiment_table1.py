# The paper's Table 1 on GPT-2 small (table1_setting.py), without and with memory; needs GPT-2's weights.
# python evaluate.py config/paper/eval_sentiment_table1.py
base = ["../eval_sentiment_setting.py", "table1_setting.py"]
init_from = "gpt2"
out_dir = "out/sentiment_gpt2"
title = "GPT-2 sentiment, Table 1 settings"

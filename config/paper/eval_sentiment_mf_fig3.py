# The paper's Fig. 3 on GPT-2 small: sweep of mem_frac around Table 1's setting (table1_setting.py).
# python evaluate.py config/paper/eval_sentiment_mf_fig3.py
base = ["../eval_sentiment_setting.py", "table1_setting.py", "../fig3_mf_setting.py"]
init_from = "gpt2"
out_dir = "out/sentiment_mf_gpt2"
title = "GPT-2 sentiment, mem_frac sweep (Fig. 3)"

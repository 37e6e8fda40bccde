# The paper's Fig. 3 on Gemma 3 270M: sweep of mem_frac around its sentiment setting (../sentiment_setting.py), three
# of Fig. 3's values for time on 2 cores; MF 5 is eval_sentiment_table1.py's method row.
# python evaluate.py config/gemma3/sweeps/eval_sentiment_mf_fig3.py
base = ["../../eval_sentiment_setting.py", "../sentiment_setting.py", "../../fig3_mf_setting.py"]
init_from = "gemma3"
out_dir = "out/sentiment_mf_gemma3"
sweep_values = [0.1, 1.0, 10.0]
title = "Gemma 3 270M sentiment, mem_frac sweep (Fig. 3), layers 6-11, cached"

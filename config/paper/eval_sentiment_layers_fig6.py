# The paper's Fig. 6 on GPT-2 small: Type 1 over layer patterns (every single layer, every 3 consecutive layers and
# a few wider ones; the paper ran every pattern).
# python evaluate.py config/paper/eval_sentiment_layers_fig6.py
base = "../eval_sentiment_setting.py"
init_from = "gpt2"
out_dir = "out/sentiment_layers_gpt2"
knn = 5
mem_frac = 5.0
bookkeeping_frac = 1.0
knn_softmax_influence = 1.0
resid_only = False
resid_frac = 0.0
memory_mode = "exact"
sweep_key = "layers"
sweep_values = ([[i] for i in range(12)] + [[i, i + 1, i + 2] for i in range(10)]
                + ["123456______", "______789___", "______789012", "123456789012"])
title = "GPT-2 sentiment layer sweep (Fig. 6 settings)"

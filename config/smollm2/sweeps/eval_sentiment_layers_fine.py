# Finer layer sweep for sentiment on SmolLM2 around the best windows of eval_sentiment_layers.py (choosing the layers
# of sentiment_setting.py): shifted windows of 3 and wider windows.
# python evaluate.py config/smollm2/sweeps/eval_sentiment_layers_fine.py
base = "../../eval_sentiment_layers_setting.py"
init_from = "smollm2"
out_dir = "out/sentiment_layers_fine_smollm2"
baseline = False
sweep_values = [[i, i + 1, i + 2] for i in range(12, 22)] + [list(range(12, 18)), list(range(15, 21)),
                                                             list(range(18, 24)), list(range(12, 24))]
title = "SmolLM2 sentiment: Type 3 (Table 1 parameters), finer layer windows, 20 seeds x 50 tokens"

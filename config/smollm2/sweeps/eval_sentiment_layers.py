# Layer sweep for sentiment on SmolLM2 (choosing the layers of sentiment_setting.py): Type 3 with Table 1's parameters
# in every window of 3 consecutive layers of 30 (../../eval_sentiment_layers_setting.py).
# python evaluate.py config/smollm2/sweeps/eval_sentiment_layers.py
base = "../../eval_sentiment_layers_setting.py"
init_from = "smollm2"
out_dir = "out/sentiment_layers_smollm2"
sweep_values = [[i, i + 1, i + 2] for i in range(0, 30, 3)]
title = "SmolLM2 sentiment: Type 3 (Table 1 parameters) in 3 consecutive layers, 20 seeds x 50 tokens"

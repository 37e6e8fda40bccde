# Layer sweep for sentiment on Gemma 3 270M (choosing the layers of sentiment_setting.py): Type 3 with Table 1's
# parameters in every window of 3 consecutive layers of 18 (../../eval_sentiment_layers_setting.py).
# python evaluate.py config/gemma3/sweeps/eval_sentiment_layers.py
base = "../../eval_sentiment_layers_setting.py"
init_from = "gemma3"
out_dir = "out/sentiment_layers_gemma3"
sweep_values = [[i, i + 1, i + 2] for i in range(0, 18, 3)]
title = "Gemma 3 270M sentiment: Type 3 (Table 1 parameters) in 3 consecutive layers, 20 seeds x 50 tokens"

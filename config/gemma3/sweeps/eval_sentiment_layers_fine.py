# Finer layer sweep for sentiment on Gemma 3 270M around the best windows of eval_sentiment_layers.py: shifted windows
# of 3 and wider windows (choosing the layers of sentiment_setting.py).
# python evaluate.py config/gemma3/sweeps/eval_sentiment_layers_fine.py
base = "../../eval_sentiment_layers_setting.py"
init_from = "gemma3"
out_dir = "out/sentiment_layers_fine_gemma3"
baseline = False
sweep_values = [[7, 8, 9], [8, 9, 10], [6, 7, 8, 9], [6, 7, 8, 9, 10, 11], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]]
title = "Gemma 3 270M sentiment: Type 3 (Table 1 parameters), windows around layers 6-11, 20 seeds x 50 tokens"

# SmolLM2's exact vs cached memory mode sweeps (choosing the mode of its templates): Type 3 with Table 1's parameters
# in the template's layers, the reduced protocol of the layer sweeps (20 seeds x 50 tokens).
base = ["../../eval_sentiment_setting.py", "../../sentiment_setting.py"]
num_seeds = 20
max_new_tokens = 50
baseline = False
sweep_key = "memory_mode"
sweep_values = ["cached", "exact"]

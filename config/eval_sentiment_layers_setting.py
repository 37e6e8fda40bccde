# The sentiment layer sweeps: Type 3 with Table 1's parameters (k 5) in each window of layers the template lists, a
# reduced protocol (20 seeds x 50 tokens) so a sweep runs in minutes on 2 cores, cached mode.
base = ["eval_sentiment_setting.py", "sentiment_setting.py"]
num_seeds = 20
max_new_tokens = 50
knn = 5
memory_mode = "cached"
sweep_key = "layers"

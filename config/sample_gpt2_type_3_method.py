# Sentiment direction with the Type 3 method, the paper's Table 1 settings.
# Memory: five upbeat sentences about cats; prompt: "Cats are horrible".
# Layers 7, 8, 9 in the paper's 1-based numbering are indices 6, 7, 8 of knn_num.
# The method's settings (k 5, MF 5, BF 0.9, TS 0.01, r 0.33) are in config/paper/table1_setting.py.
# python sample.py config/sample_gpt2_type_3_method.py
from pathlib import Path

init_from = "gpt2"
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/cats.txt"
exec((Path(__file__).parent / "paper" / "table1_setting.py").read_text())  # Type 3, layers 7-9
unadulterated_gpt = True  # print the no-memory continuation (same seed) first
method_text = "Type 3 method (Table 1): layers 7-9, k 5, MF 5, BF 0.9, TS 0.01, r 0.33"

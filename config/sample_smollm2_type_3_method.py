# Sentiment direction on SmolLM2-135M-Instruct with the Type 3 method: the paper's Table 1
# parameters (k 5, MF 5, BF 0.9, TS 0.01, r 0.33) in the layers a measured sweep chose
# (docs/layer_sweep.md). Cached memory mode: it gave the same VADER distribution as exact mode there
# (docs/results.md) at a fraction of the cost. Memory: five upbeat sentences about cats; prompt: "Cats are horrible".
# The method's settings are in config/smollm2/sentiment_setting.py.
# python sample.py config/sample_smollm2_type_3_method.py
from pathlib import Path

init_from = "smollm2"
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/cats.txt"
exec((Path(__file__).parent / "smollm2" / "sentiment_setting.py").read_text())  # Type 3, layers 12-23
unadulterated_gpt = True  # print the no-memory continuation (same seed) first
method_text = "Type 3 method on SmolLM2"

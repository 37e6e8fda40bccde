# Sentiment direction on Gemma 3 270M (a base model, like the paper's GPT-2) with the Type 3 method: the paper's
# Table 1 parameters (k 5, MF 5, BF 0.9, TS 0.01, r 0.33) in the layers a measured sweep chose (docs/results.md,
# "Gemma 3 270M"). Memory: five upbeat sentences about cats, each read after <bos> (Gemma's attention sink, as
# the prompt is); prompt: "Cats are horrible".
# The method's settings are in config/gemma3/sentiment_setting.py.
# python sample.py config/sample_gemma3_type_3_method.py
from pathlib import Path

init_from = "gemma3"
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/cats.txt"
exec((Path(__file__).parent / "gemma3" / "sentiment_setting.py").read_text())  # Type 3, layers 6-11 of 18
unadulterated_gpt = True  # print the no-memory continuation (same seed) first
method_text = "Type 3 method on Gemma 3 270M"

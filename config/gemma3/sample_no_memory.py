# Gemma 3 270M (the embedded base model, offline) with no memory. Its tokenizer starts every prompt with <bos>.
# python sample.py config/gemma3/sample_no_memory.py
init_from = "gemma3"
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

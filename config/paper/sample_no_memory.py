# GPT-2 small with no memory: the baseline the method is compared with.
# python sample.py config/paper/sample_no_memory.py
init_from = "gpt2"
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

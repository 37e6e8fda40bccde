# SmolLM2-135M-Instruct (embedded, offline) with no memory.
# python sample.py config/smollm2/sample_no_memory.py
init_from = "smollm2"
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

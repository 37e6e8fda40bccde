# evaluate.py's sentiment protocol, the paper's: the cats prompt and memory, 100 seeds x 100 tokens, without and with
# memory. Templates add a model's sentiment setting.
mode = "sentiment"
start = "\nCats are horrible"
memory = "FILE:data/cats.txt"
num_seeds = 100
max_new_tokens = 100

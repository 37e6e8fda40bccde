# evaluate.py's Vancouver recall protocol, the paper's (Table 4): a question whose answer is in the memory's paragraph
# about Vancouver, 100 seeds x 100 tokens. Templates add a model's method.
mode = "recall"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 100
max_new_tokens = 100

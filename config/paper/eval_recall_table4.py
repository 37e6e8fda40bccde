# The paper's Table 4 on GPT-2 small: question only, the paragraph in the context, and the Type 2 method
# in layer 10 (index 9), k 5, MF 0, BF 0.9, TS 1000, r 0.1; 100 seeds.
mode = "recall"
init_from = "gpt2"
out_dir = "out/recall_gpt2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 100
max_new_tokens = 100
knn_num = [0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0]
mem_frac = 0.0
bookkeeping_frac = 0.9
knn_softmax_influence = 1000.0
resid_only = True
resid_frac = 0.1
memory_mode = "exact"
title = "GPT-2 recall, Table 4 settings"

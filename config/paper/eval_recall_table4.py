# The paper's Table 4 on GPT-2 small: question only, the paragraph in the context, and the Type 2 method
# in layer 10 (index 9), k 5, MF 0, BF 0.9, TS 1000, r 0.1 (table4_setting.py); 100 seeds.
# python evaluate.py config/paper/eval_recall_table4.py
from pathlib import Path

mode = "recall"
init_from = "gpt2"
out_dir = "out/recall_gpt2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parent / "table4_setting.py").read_text())
title = "GPT-2 recall, Table 4 settings"

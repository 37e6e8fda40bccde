# Sentiment direction with the Type 3 method, the paper's Table 1 setting (paper/table1_setting.py). Memory: five
# upbeat sentences about cats; prompt: "Cats are horrible".
# python sample.py config/sample_gpt2_type_3_method.py
base = ["sample_setting.py", "paper/table1_setting.py"]
init_from = "gpt2"
memory = "FILE:data/cats.txt"
unadulterated_gpt = True  # print the no-memory continuation (same seed) first
method_text = "Type 3 method (Table 1): layers 7-9, k 5, MF 5, BF 0.9, TS 0.01, r 0.33"

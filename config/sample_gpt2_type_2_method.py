# Recall with the Type 2 method, the paper's Table 4 setting (paper/table4_setting.py). Memory: a paragraph about
# Vancouver; prompt: a question whose answer is in it.
# python sample.py config/sample_gpt2_type_2_method.py
base = ["sample_setting.py", "paper/table4_setting.py"]
init_from = "gpt2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
unadulterated_gpt = True
method_text = "Type 2 method (Table 4): layer 10, k 5, MF 0, BF 0.9, TS 1000, r 0.1"

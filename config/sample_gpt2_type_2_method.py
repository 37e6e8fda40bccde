# Recall with the Type 2 method, the paper's Table 4 settings.
# Memory: a paragraph about Vancouver; prompt: a question whose answer is in it.
# Layer 10 in the paper's 1-based numbering is index 9 of knn_num. MF = 0 with BF 0.9:
# only the first (bookkeeping) position can be selected, in a few heads.
# The method's settings (k 5, MF 0, BF 0.9, TS 1000, r 0.1) are in config/paper/table4_setting.py.
# python sample.py config/sample_gpt2_type_2_method.py
from pathlib import Path

init_from = "gpt2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/vancouver.txt"
exec((Path(__file__).parent / "paper" / "table4_setting.py").read_text())  # Type 2, layer 10
unadulterated_gpt = True
method_text = "Type 2 method (Table 4): layer 10, k 5, MF 0, BF 0.9, TS 1000, r 0.1"

# The paper's Fig. 10 on GPT-2 small: recall with the Type 2 method, Table 4's parameters but MF 5, in each layer.
# python evaluate.py config/paper/eval_recall_layers_type_2_fig10.py
base = ["recall_layers_setting.py", "../vancouver_setting.py"]
init_from = "gpt2"
out_dir = "out/recall_layers_type2_gpt2"
knn = 5
mem_frac = 5.0
title = "GPT-2 recall layer sweep, Type 2 (Fig. 10)"

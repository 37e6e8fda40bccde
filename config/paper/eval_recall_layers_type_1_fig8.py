# The paper's Fig. 8 on GPT-2 small: recall with the Type 1 method in each layer (recall_layers_setting.py).
# python evaluate.py config/paper/eval_recall_layers_type_1_fig8.py
base = "recall_layers_setting.py"
init_from = "gpt2"
out_dir = "out/recall_layers_type1_gpt2"
knn = 3
mem_frac = 1.0
bookkeeping_frac = 0.1
knn_softmax_influence = 1.0
resid_only = False
resid_frac = 0.0
title = "GPT-2 recall layer sweep, Type 1 (Fig. 8)"

# The paper's Vancouver recall on SmolLM2-135M-Instruct (Table 4 and Fig. 13 protocol) with vancouver_setting.py; then
# with "Vancouver" replaced in the memory by other cities. Recall is decided by the first word: 20 new tokens.
# python evaluate.py config/smollm2/eval_recall_vancouver.py
base = ["../eval_vancouver_setting.py", "vancouver_setting.py"]
init_from = "smollm2"
out_dir = "out/recall_vancouver_type2_smollm2"
max_new_tokens = 20
conditions = ["question", "in_context", "method"]
substitutes = ["Toronto", "Calgary", "Halifax"]
title = "SmolLM2 recall, 100 seeds: question only / paragraph in context / method (Type 2, layers 18-23)"

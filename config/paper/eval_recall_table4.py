# The paper's Table 4 on GPT-2 small (table4_setting.py): question only, the paragraph in the context, the method.
# python evaluate.py config/paper/eval_recall_table4.py
base = ["../eval_vancouver_setting.py", "table4_setting.py"]
init_from = "gpt2"
out_dir = "out/recall_gpt2"
title = "GPT-2 recall, Table 4 settings"

# Recall of a fact of your own on SmolLM2-135M-Instruct (../eval_my_facts_setting.py) with its recall setting.
# python evaluate.py config/smollm2/eval_recall_my_facts.py
base = ["../eval_my_facts_setting.py", "recall_setting.py"]
init_from = "smollm2"
out_dir = "out/recall_smollm2"
title = "SmolLM2 recall of your own fact: question only / memory in context / chunk retrieval"

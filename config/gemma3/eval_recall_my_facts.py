# Recall of a fact of your own on Gemma 3 270M (../eval_my_facts_setting.py) with its recall setting.
# python evaluate.py config/gemma3/eval_recall_my_facts.py
base = ["../eval_my_facts_setting.py", "recall_setting.py"]
init_from = "gemma3"
out_dir = "out/recall_gemma3"
title = "Gemma 3 270M recall of your own fact: question only / memory in context / chunk retrieval"

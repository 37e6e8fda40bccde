# The fact benchmark on Gemma 3 270M, test split, among real prose (../eval_facts_prose_setting.py): its recall setting.
# python evaluate.py config/gemma3/eval_facts_prose_test.py
base = ["../eval_facts_prose_setting.py", "recall_setting.py"]
init_from = "gemma3"
out_dir = "out/facts_gemma3_prose_test"
title = "Gemma 3 270M, fact benchmark (test split) among 1100 texts of real prose: recall"

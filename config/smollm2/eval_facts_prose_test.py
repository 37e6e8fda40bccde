# The fact benchmark on SmolLM2, test split, among real prose (../eval_facts_prose_setting.py): its recall setting.
# python evaluate.py config/smollm2/eval_facts_prose_test.py
base = ["../eval_facts_prose_setting.py", "recall_setting.py"]
init_from = "smollm2"
out_dir = "out/facts_smollm2_prose_test"
title = "SmolLM2, fact benchmark (test split) among 1100 texts of real prose: recall"

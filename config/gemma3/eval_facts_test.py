# The fact benchmark on Gemma 3 270M, test split (../eval_facts_setting.py), n = 1 and 1000 only (for time): its
# recall setting.
# python evaluate.py config/gemma3/eval_facts_test.py
base = ["../eval_facts_setting.py", "recall_setting.py"]
init_from = "gemma3"
out_dir = "out/facts_gemma3_test"
title = "Gemma 3 270M, fact benchmark (test split): recall of one fact among n"

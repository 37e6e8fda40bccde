# The fact benchmark on Gemma 3 270M at scale (../eval_facts_scale_setting.py): its recall setting over a
# kv='recompute' store.
# python evaluate.py config/gemma3/eval_facts_scale.py
base = ["../eval_facts_scale_setting.py", "recall_setting.py"]
init_from = "gemma3"
out_dir = "out/facts_gemma3_scale_test"
title = "Gemma 3 270M, fact benchmark (test split), kv='recompute': recall of one fact among n"

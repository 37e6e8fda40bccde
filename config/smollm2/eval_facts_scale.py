# The fact benchmark on SmolLM2-135M-Instruct at scale (../eval_facts_scale_setting.py): its recall setting over a
# kv='recompute' store. Add 100000 to fact_counts for the 100,000-fact store (long on 2 CPU cores).
# python evaluate.py config/smollm2/eval_facts_scale.py
base = ["../eval_facts_scale_setting.py", "recall_setting.py"]
init_from = "smollm2"
out_dir = "out/facts_smollm2_scale_test"
title = "SmolLM2, fact benchmark (test split), kv='recompute': recall of one fact among n"

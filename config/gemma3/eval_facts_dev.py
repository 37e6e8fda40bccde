# The fact benchmark's dev split on Gemma 3 270M: its recall setting without the check, so every record keeps its
# chosen text's score and any gate can be applied afterwards; teacher-forced only, each fact alone in memory.
# python evaluate.py config/gemma3/eval_facts_dev.py
base = "recall_setting.py"
mode = "facts"
init_from = "gemma3"
out_dir = "out/facts_gemma3_dev"
facts_split = "dev"
fact_counts = [1]
conditions = ["question", "in_context", "method"]
num_seeds = 0
chunk_min_overlap = None  # no check: each record keeps its score
title = "Gemma 3 270M, fact benchmark (dev split), no gate"

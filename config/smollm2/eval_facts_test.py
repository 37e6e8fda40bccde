# The fact benchmark on SmolLM2-135M-Instruct, test split (../eval_facts_setting.py), n = 1 ... 1000, with all n
# paragraphs in the context too while they fit 1024 tokens; the method: its recall setting.
# python evaluate.py config/smollm2/eval_facts_test.py
base = ["../eval_facts_setting.py", "recall_setting.py"]
init_from = "smollm2"
out_dir = "out/facts_smollm2_test"
fact_counts = [1, 10, 100, 1000]
conditions = ["question", "in_context", "all_in_context", "bm25", "bm25_checked", "method"]
all_in_context_max_tokens = 1024
title = "SmolLM2, fact benchmark (test split): recall of one fact among n"

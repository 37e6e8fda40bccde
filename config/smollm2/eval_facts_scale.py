# The fact benchmark (data/facts/) on SmolLM2-135M-Instruct at scale: the test split's teacher-forced recall of one
# fact among n = 1, 1,000 and 10,000 (the benchmark's 182 test facts, then invented distractors), with the recall
# setting (recall_setting.py: chunk retrieval, layer 17's heads 3-5, the relevance check) over a kv='recompute' store:
# the chooser's keys in float16 and the token ids only; the chosen fact's keys and values are read again by the model.
# Stores of 1,000 facts and more are built once under out/scale/ and opened by later runs (and scripts/scale.py). No
# sampling (num_seeds 0): top-1 and neighbour specificity are teacher-forced. Add 100000 to fact_counts for the
# 100,000-fact store (about 40 minutes of reading on 2 CPU cores; 2.5M tokens).
# python evaluate.py config/smollm2/eval_facts_scale.py
from pathlib import Path

mode = "facts"
init_from = "smollm2"
out_dir = "out/facts_smollm2_scale_test"
facts_split = "test"
fact_counts = [1, 1000, 10000]
conditions = ["method"]
num_seeds = 0
max_new_tokens = 20
plain_text = ""
exec((Path(__file__).parent / "recall_setting.py").read_text())  # chunk retrieval, the relevance check
kv = "recompute"
kv_dtype = "float16"
stores_dir = "out/scale"
title = "SmolLM2, fact benchmark (test split), kv='recompute': recall of one fact among n"

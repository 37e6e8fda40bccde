# The paper's Vancouver recall reproduced on SmolLM2-135M-Instruct (Table 4 and Fig. 13 protocol): 100 seeds; question only,
# the paragraph in the context, and the method (vancouver_setting.py, as config/smollm2/sample_recall_vancouver.py:
# Type 2, k 5, MF 0, BF 0, TS 1000, r 0.1, layers 18-23, cached); then with "Vancouver" replaced in the
# memory by other cities, counting the substitute (hits) and the original (original_hits).
# Recall is decided by the first word, so 20 new tokens (the paper generated 100).
# These settings were chosen on this one example and recall nothing on held-out facts (docs/results.md).
# python evaluate.py config/smollm2/eval_recall_vancouver.py
from pathlib import Path

mode = "recall"
init_from = "smollm2"
out_dir = "out/recall_vancouver_type2_smollm2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 100
max_new_tokens = 20
exec((Path(__file__).parent / "vancouver_setting.py").read_text())  # Type 2, BF 0, layers 18-23
conditions = ["question", "in_context", "method"]
substitutes = ["Toronto", "Calgary", "Halifax"]
title = "SmolLM2 recall, 100 seeds: question only / paragraph in context / method (Type 2, layers 18-23)"

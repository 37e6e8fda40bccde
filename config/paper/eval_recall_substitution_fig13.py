# The paper's Fig. 13 on GPT-2 small: every "Vancouver" in the memory replaced by another city; does the
# continuation name the substitute (hits) or the original (original_hits)? Table 4 settings (table4_setting.py).
# python evaluate.py config/paper/eval_recall_substitution_fig13.py
from pathlib import Path

mode = "recall"
init_from = "gpt2"
out_dir = "out/recall_substitution_gpt2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
answer = "Vancouver"
num_seeds = 100
max_new_tokens = 100
exec((Path(__file__).parent / "table4_setting.py").read_text())
title = "GPT-2 recall with the answer substituted in memory (Fig. 13)"
substitutes = ["Toronto", "Montreal", "Calgary", "Ottawa", "Edmonton"]

# The paper's Fig. 13 on GPT-2 small (table4_setting.py): every "Vancouver" in the memory replaced by another city;
# does the continuation name the substitute (hits) or the original (original_hits)?
# python evaluate.py config/paper/eval_recall_substitution_fig13.py
base = ["../eval_vancouver_setting.py", "table4_setting.py"]
init_from = "gpt2"
out_dir = "out/recall_substitution_gpt2"
substitutes = ["Toronto", "Montreal", "Calgary", "Ottawa", "Edmonton"]
title = "GPT-2 recall with the answer substituted in memory (Fig. 13)"

# Recall on SmolLM2 beyond Table 4's parameters: Type 2 with BF 0 (the first position always selected) over layers
# and windows (vancouver_sweep_setting.py); chose ../vancouver_setting.py.
# python evaluate.py config/smollm2/sweeps/eval_recall_vancouver_explore_type_2.py
base = ["vancouver_sweep_setting.py", "../../vancouver_setting.py"]
init_from = "smollm2"
out_dir = "out/recall_explore_smollm2"
bookkeeping_frac = 0.0
title = "SmolLM2 recall: Type 2, MF 0, BF 0, TS 1000, r 0.1"

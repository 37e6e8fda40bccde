# Recall on SmolLM2 with many token-heads: Type 3 with Table 1's parameters but TS 1, over layers and windows
# (vancouver_sweep_setting.py).
# python evaluate.py config/smollm2/sweeps/eval_recall_vancouver_explore_type_3.py
base = ["vancouver_sweep_setting.py", "../../sentiment_setting.py"]
init_from = "smollm2"
out_dir = "out/recall_explore_type3_smollm2"
knn_softmax_influence = 1.0
title = "SmolLM2 recall: Type 3, MF 5, BF 0.9, TS 1, r 0.33"

# Layer sweep for recall on SmolLM2 (choosing the layers of ../vancouver_setting.py): Type 2 with Table 4's parameters
# in each single layer of 30 (vancouver_sweep_setting.py).
# python evaluate.py config/smollm2/sweeps/eval_recall_vancouver_layers.py
base = ["vancouver_sweep_setting.py", "../../vancouver_setting.py"]
init_from = "smollm2"
out_dir = "out/recall_layers_smollm2"
sweep_values = [[i] for i in range(30)]
title = "SmolLM2 recall: Type 2 (Table 4 parameters) in one layer, 20 seeds"

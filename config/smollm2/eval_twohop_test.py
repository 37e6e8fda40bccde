# The two-hop set on SmolLM2-135M-Instruct, test split (../eval_twohop_setting.py): its recall setting choosing one
# text, then a second by the rare tokens the first brought, each read only if it passes its check.
# python evaluate.py config/smollm2/eval_twohop_test.py
base = ["../eval_twohop_setting.py", "recall_setting.py"]
init_from = "smollm2"
out_dir = "out/twohop_smollm2_test"
title = "SmolLM2-135M-Instruct, two-hop questions (test split)"

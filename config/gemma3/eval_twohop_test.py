# The two-hop set on Gemma 3 270M, test split (../eval_twohop_setting.py): its recall setting choosing one text, then
# a second by the rare tokens the first brought, each read only if it passes its check.
# python evaluate.py config/gemma3/eval_twohop_test.py
base = ["../eval_twohop_setting.py", "recall_setting.py"]
init_from = "gemma3"
out_dir = "out/twohop_gemma3_test"
title = "Gemma 3 270M, two-hop questions (test split)"

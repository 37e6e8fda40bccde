# The two-hop set (data/twohop/) on Gemma 3 270M, test split: questions whose answer needs two stored facts (the
# person's town, then the town's river, mayor or ferry; the question names the person only). The question alone, both
# facts in the context, and the method with the recall setting (recall_setting.py) choosing two texts (chunk_select =
# 2) among the 60 facts of the split, each read only if it passes the relevance check on its own. Tune with
# --twohop_split=dev. 10 seeds x 20 tokens a question.
# python evaluate.py config/gemma3/eval_twohop_test.py
from pathlib import Path

mode = "twohop"
init_from = "gemma3"
out_dir = "out/twohop_gemma3_test"
twohop_split = "test"
conditions = ["question", "in_context", "method"]
num_seeds = 10
max_new_tokens = 20
exec((Path(__file__).parent / "recall_setting.py").read_text())  # chunk retrieval, the relevance check
chunk_select = 2  # the two best texts, each checked on its own
title = "Gemma 3 270M, two-hop questions (test split)"

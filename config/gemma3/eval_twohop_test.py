# The two-hop set (data/twohop/) on Gemma 3 270M, test split: questions whose answer needs two stored facts (the
# person's town, then the town's river, mayor or ferry; the question names the person only). The question alone, both
# facts in the context, and the method with the recall setting (recall_setting.py) choosing one text, then a second
# by the rare tokens the first brought (chunk_hops = 2), among the 60 facts of the split, each read only if it passes
# its check. Tune with
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
chunk_select = 1  # one text a round, checked
chunk_hops = 2  # a second round chooses by the rare tokens the first text brought (the town): memory.next_hop
title = "Gemma 3 270M, two-hop questions (test split)"

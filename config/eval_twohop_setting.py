# evaluate.py's two-hop set (data/twohop/), test split: the person's town, then the town's river, mayor or ferry; the
# question alone, both facts in the context, and the method. Tune with --twohop_split=dev.
mode = "twohop"
twohop_split = "test"
conditions = ["question", "in_context", "method"]
num_seeds = 10
max_new_tokens = 20
chunk_hops = 2  # a second round chooses by the rare tokens the first text brought (the town): chunks.next_hop

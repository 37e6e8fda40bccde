# The fact benchmark at scale: teacher-forced recall of one test fact among n (then invented distractors) over a
# kv='recompute' store, built once under out/scale/ and opened by later runs (and scripts/scale.py).
mode = "facts"
facts_split = "test"
fact_counts = [1, 1000, 10000]
conditions = ["method"]
num_seeds = 0  # no sampling: top-1 and neighbour specificity are teacher-forced
max_new_tokens = 20
plain_text = ""
kv = "recompute"  # the chooser's keys in float16 and the token ids only: the chosen fact is read again by the model
kv_dtype = "float16"
stores_dir = "out/scale"

# evaluate.py's fact benchmark (data/facts/), test split: recall of one fact among n in one memory; teacher-forced
# scores for every fact, sampling (10 seeds x 20 tokens) for the first 40. Tune with --facts_split=dev.
mode = "facts"
facts_split = "test"
fact_counts = [1, 1000]
conditions = ["question", "in_context", "bm25", "bm25_checked", "method"]
num_seeds = 10
sample_facts = 40
max_new_tokens = 20

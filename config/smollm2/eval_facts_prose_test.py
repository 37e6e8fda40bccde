# The fact benchmark (data/facts/) on SmolLM2, test split, among real prose: the split's 182 facts in one memory
# with 1100 texts of real prose of mixed lengths (facts.prose_distractors: Python's docstrings, 6-277 words, and 100
# long texts of 400+ words, 500-800 tokens, where a fact takes about 30): distractors that look like real memories,
# hubs among them. The fact's paragraph in the context, the BM25-best text in the context where it passes the
# relevance check, and the method with the recall setting (recall_setting.py). Teacher-forced scores for every fact;
# sampling (10 seeds x 20 tokens) for the first 40 facts. Issue 19: the right text chosen, and recall, among them.
# python evaluate.py config/smollm2/eval_facts_prose_test.py
from pathlib import Path

mode = "facts"
init_from = "smollm2"
out_dir = "out/facts_smollm2_prose_test"
facts_split = "test"
fact_counts = [1282]
distractors = "prose"
conditions = ["in_context", "bm25_checked", "method"]
num_seeds = 10
sample_facts = 40
max_new_tokens = 20
exec((Path(__file__).parent / "recall_setting.py").read_text())  # chunk retrieval, the relevance check
title = "SmolLM2, fact benchmark (test split) among 1100 texts of real prose: recall"

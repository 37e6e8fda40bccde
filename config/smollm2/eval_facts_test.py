# The fact benchmark (data/facts/) on SmolLM2-135M-Instruct: recall of one fact among n = 1 ... 10,000 in one
# memory, for the question alone, the fact's paragraph in the context, all n paragraphs in the context (while they
# fit), the BM25-best paragraph in the context (always, and only where it passes the relevance check), and the
# method with the recall setting chosen on dev (docs/results.md; recall_setting.py): chunk retrieval. Three query
# heads of layer 17 choose the one memory text that best matches the question; if it holds enough of the question's
# rare words (the relevance check, fitted on dev: 9 in 10 neighbour questions then do not read the fact), every
# layer's attention reads that text's stored keys and values, laid out before the context after the bookkeeping
# token they were read after.
# Teacher-forced scores for every fact; sampling (10 seeds x 20 tokens) for the first 40 facts, for cost on 2 CPU
# cores; all n paragraphs in the context only while they fit 1024 tokens (n = 100 takes 3,500: 30 s a prompt here).
# Report on test; tune on dev (--facts_split=dev).
# python evaluate.py config/smollm2/eval_facts_test.py
from pathlib import Path

mode = "facts"
init_from = "smollm2"
out_dir = "out/facts_smollm2_test"
facts_split = "test"
fact_counts = [1, 10, 100, 1000]
conditions = ["question", "in_context", "all_in_context", "bm25", "bm25_checked", "method"]
num_seeds = 10
sample_facts = 40
max_new_tokens = 20
all_in_context_max_tokens = 1024
exec((Path(__file__).parent / "recall_setting.py").read_text())  # chunk retrieval, the relevance check
title = "SmolLM2, fact benchmark (test split): recall of one fact among n"

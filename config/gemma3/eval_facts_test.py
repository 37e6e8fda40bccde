# The fact benchmark (data/facts/) on Gemma 3 270M, test split: recall of one fact among n = 1 and 1000 in one
# memory, for the question alone, the fact's paragraph in the context, the BM25-best paragraph in the context
# (always, and only where it passes the relevance check), and the method with the recall setting chosen on dev
# (docs/results.md, "Gemma 3 270M"; recall_setting.py): chunk retrieval. Three query heads of layer 5 (Gemma's first
# global layer) choose the one memory text that best matches the question; if it holds enough of the question's rare
# words (the relevance check, fitted on dev: about 1 in 10 questions about a similar entity then read the fact),
# every layer's attention reads that text's stored keys and values, laid out before the context after the
# bookkeeping token (<bos>) they were read after.
# Teacher-forced scores for every fact; sampling (10 seeds x 20 tokens) for the first 40 facts. n = 10, all
# paragraphs in the context are left out, and n = 100, for time on 2 CPU cores (SmolLM2's run has them).
# python evaluate.py config/gemma3/eval_facts_test.py
from pathlib import Path

mode = "facts"
init_from = "gemma3"
out_dir = "out/facts_gemma3_test"
facts_split = "test"
fact_counts = [1, 1000]
conditions = ["question", "in_context", "bm25", "bm25_checked", "method"]
num_seeds = 10
sample_facts = 40
max_new_tokens = 20
exec((Path(__file__).parent / "recall_setting.py").read_text())  # chunk retrieval, the relevance check
title = "Gemma 3 270M, fact benchmark (test split): recall of one fact among n"

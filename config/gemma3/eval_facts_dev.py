# Choosing Gemma 3 270M's recall gate on the fact benchmark's dev split: the chunk chooser (chunk_layers [5],
# chunk_heads [1, 2, 3], picked by the dev analysis in docs/results.md) with no gate, so that every record keeps its
# chosen text's score and any gate can be applied afterwards exactly; teacher-forced only (no sampling); the question
# alone, the paragraph in the context and the method, each fact alone in memory (n = 1).
# The recall setting (recall_setting.py), its gate left out.
# python evaluate.py config/gemma3/eval_facts_dev.py
from pathlib import Path

mode = "facts"
init_from = "gemma3"
out_dir = "out/facts_gemma3_dev"
facts_split = "dev"
fact_counts = [1]
conditions = ["question", "in_context", "method"]
num_seeds = 0
exec((Path(__file__).parent / "recall_setting.py").read_text())
chunk_min_overlap = None  # no check: each record keeps its score
title = "Gemma 3 270M, fact benchmark (dev split), no gate"

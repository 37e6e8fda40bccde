# Recall of a fact of your own on Gemma 3 270M: question only, the memory text in the context, and the
# method with the recall setting chosen on the fact benchmark's dev split (chunk retrieval: recall_setting.py; see
# config/gemma3/sample_recall_my_facts.py and docs/results.md); then with the answer replaced in the memory by
# other words (hits count the substitute, original_hits the original answer).
# Edit start, memory and answer for your own facts (one fact per line in the memory file).
# python evaluate.py config/gemma3/eval_recall_my_facts.py
from pathlib import Path

mode = "recall"
init_from = "gemma3"
out_dir = "out/recall_gemma3"
start = "\nThe spare key to the allotment shed is hidden under the"
memory = "FILE:data/my_facts.txt"
one_text_per_line = True
answer = "blue"
num_seeds = 100
max_new_tokens = 20
exec((Path(__file__).parent / "recall_setting.py").read_text())  # chunk retrieval: layer 5's heads 1-3, gate 16.6
conditions = ["question", "in_context", "method"]
substitutes = ["red", "green", "yellow"]
title = "Gemma 3 270M recall of your own fact: question only / memory in context / chunk retrieval"

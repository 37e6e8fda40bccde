# Recall of your own facts on SmolLM2-135M-Instruct: chunk retrieval, the setting chosen on the dev split of the
# fact benchmark and reported on its test split (docs/results.md), in recall_setting.py. Each line of the memory
# file is one fact, read on its own. For a prompt, three query heads of layer 17 score every fact against the stored
# keys and choose the best one; if it holds enough of the prompt's rare words (chunk_min_overlap), every layer's
# attention reads that fact's stored keys and values, laid out just before the prompt, in the same softmax as the
# prompt.
# (Not the paper's Type 2 method: the paper's own Vancouver setting is config/smollm2/sample_recall_vancouver.py.)
# python sample.py config/smollm2/sample_recall_my_facts.py
from pathlib import Path

init_from = "smollm2"
start = "\nThe spare key to the allotment shed is hidden under the"
num_samples = 3
max_new_tokens = 30
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/my_facts.txt"
one_text_per_line = True  # each line is a fact: one chunk
exec((Path(__file__).parent / "recall_setting.py").read_text())  # chunk retrieval: layer 17's heads 3-5, gate 2.8
unadulterated_gpt = True
method_text = "chunk retrieval on SmolLM2"
explain = True

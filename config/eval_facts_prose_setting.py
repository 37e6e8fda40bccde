# The fact benchmark among real prose: the test split's facts in one memory with 1100 texts of real prose of mixed
# lengths (facts.prose_distractors), hubs among them: is the right text chosen, and the fact recalled?
base = "eval_facts_setting.py"
fact_counts = [1282]
distractors = "prose"
conditions = ["in_context", "bm25_checked", "method"]

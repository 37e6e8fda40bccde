# Recall of your own facts (data/my_facts.txt, one a line) on Gemma 3 270M with its recall setting
# (recall_setting.py: chunk retrieval).
# python sample.py config/gemma3/sample_recall_my_facts.py
base = ["../sample_my_facts_setting.py", "recall_setting.py"]
init_from = "gemma3"
method_text = "chunk retrieval on Gemma 3 270M"

# Recall of your own facts (data/my_facts.txt, one a line) on SmolLM2-135M-Instruct with its recall setting
# (recall_setting.py: chunk retrieval). The paper's own Vancouver setting is sample_recall_vancouver.py.
# python sample.py config/smollm2/sample_recall_my_facts.py
base = ["../sample_my_facts_setting.py", "recall_setting.py"]
init_from = "smollm2"
method_text = "chunk retrieval on SmolLM2"

# SmolLM2-135M-Instruct's recall setting: chunk retrieval (../recall_setting.py), chosen on the fact benchmark's dev
# split; the chooser's layer and heads are the model's (its registry entry).
base = "../recall_setting.py"
knn_num = [1000] * 30  # every layer reads every token of the chosen text (k >= its length)

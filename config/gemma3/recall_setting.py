# Gemma 3 270M's recall setting: chunk retrieval (../recall_setting.py), chosen on the fact benchmark's dev split;
# the chooser's layer and heads are the model's (its registry entry). Local layers read the text too.
base = "../recall_setting.py"
knn_num = [1000] * 18  # every layer reads every token of the chosen text (k >= its length)
mem_hide_start = 1  # where the fact is read, the prompt's own <bos> is hidden: <bos> fact question, as in the context

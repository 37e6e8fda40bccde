# The paper's Vancouver recall with the Type 2 method on SmolLM2-135M-Instruct (vancouver_setting.py), chosen on this
# one example; for facts of your own use sample_recall_my_facts.py.
# python sample.py config/smollm2/sample_recall_vancouver.py
base = ["../sample_setting.py", "vancouver_setting.py"]
init_from = "smollm2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
memory = "FILE:data/vancouver.txt"
unadulterated_gpt = True
method_text = "Type 2 method on SmolLM2"

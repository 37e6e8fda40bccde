# The paper's recall layer sweeps on GPT-2 small (Figs. 8 and 10): the Vancouver protocol, the method in each layer
# (and layers 10-11 together), exact mode.
base = "../eval_vancouver_setting.py"
conditions = ["question", "in_context", "method"]
memory_mode = "exact"
sweep_key = "layers"
sweep_values = [[i] for i in range(12)] + [[9, 10]]

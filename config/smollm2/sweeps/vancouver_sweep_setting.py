# SmolLM2's Vancouver recall sweeps: the Vancouver protocol with 20 seeds and 12 new tokens (recall is decided by the
# first word), k 5 in each of these layers and windows, cached; templates add the method.
base = "../../eval_vancouver_setting.py"
num_seeds = 20
max_new_tokens = 12
knn = 5
memory_mode = "cached"
conditions = ["question", "in_context", "method"]
sweep_key = "layers"
sweep_values = [[i] for i in range(14, 28, 2)] + [list(range(18, 24)), list(range(12, 24)), list(range(20, 30))]

# The paper's Vancouver recall with the Type 2 method, reproduced on SmolLM2-135M-Instruct: Table 4's parameters (k 5, MF 0, TS 1000,
# r 0.1) but BF 0, in layers 18-23 (vancouver_setting.py). Measured (docs/layer_sweep.md): with Table 4's BF 0.9
# no single layer beat the question alone (SmolLM2 rarely gives the first position > 0.9 of the newest token's
# attention, so nothing was selected); with BF 0 the first position is always selected, and one layer
# was not enough, six were.
# Memory: a paragraph about Vancouver; prompt: a question whose answer is in it.
# Chosen on this one example: on held-out facts it recalls nothing (docs/results.md); for recall of your own
# facts use config/smollm2/sample_recall_my_facts.py.
# python sample.py config/smollm2/sample_recall_vancouver.py
from pathlib import Path

init_from = "smollm2"
start = "\nThe name of the city with the third-largest metropolitan area in Canada is"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

memory = "FILE:data/vancouver.txt"
exec((Path(__file__).parent / "vancouver_setting.py").read_text())  # Type 2, BF 0, layers 18-23
unadulterated_gpt = True
method_text = "Type 2 method on SmolLM2"

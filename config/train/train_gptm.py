# GPTm, seed 003's memory matrix (gptm.py), on the grid of train_full.py: blocks of W = 16 tokens, a memory M written
# once per block, read as sketch_rows extra positions (count sketch S M), back-propagation cut every bptt blocks.
# python train.py config/train/train_gptm.py
base = "grid_setting.py"
out_dir = "out/train_gptm"
wandb_run_name = "gptm"
architecture = "gptm"
window = 16
n_embd = 144
memory_rows = 256
sketch_rows = 16
learned_sketch = False
bptt = 8

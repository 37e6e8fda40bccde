# GPTm, seed 003's memory matrix (gptm.py), on the grid of train_full.py: blocks of W = 16 tokens with causal
# attention inside each, a memory M of 256 rows written once per block (M <- M + sigmoid(M c / 2) c^T, c the block's
# mean output) and read as 16 extra positions, its count sketch S M; back-propagation truncated every 8 blocks.
# 144 wide (4 heads of 36), 2 layers: 527,184 parameters against the GPT's 514,048.
# python train.py config/train/train_gptm.py
from pathlib import Path

out_dir = "out/train_gptm"
wandb_run_name = "gptm"
architecture = "gptm"
exec((Path(__file__).parent / "grid_setting.py").read_text())  # the tasks and the 2000 steps
window = 16
n_embd = 144
memory_rows = 256
sketch_rows = 16
learned_sketch = False
bptt = 8

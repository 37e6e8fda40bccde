# lucidrains' Memorizing Transformer (memorizing-transformers-pytorch, used as it is) on the grid of train_full.py:
# segments of W = 16 tokens with causal attention inside each; the last layer's kNN attention reads the top 32
# keys of every earlier segment (FAISS, refilled per sequence, not differentiated).
# 152 wide (4 heads of 38), 2 layers: 532,861 parameters against the GPT's 514,048.
# python train.py config/train/train_memorizing.py
from pathlib import Path

out_dir = "out/train_memorizing"
wandb_run_name = "memorizing"
architecture = "memorizing"
exec((Path(__file__).parent / "grid_setting.py").read_text())  # the tasks and the 2000 steps
window = 16
n_embd = 152
knn = 32

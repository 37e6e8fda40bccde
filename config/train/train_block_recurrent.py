# lucidrains' Block-Recurrent Transformer (seed 002; block-recurrent-transformer-pytorch, used as it is) on the grid
# of train_full.py: blocks of W/2 = 8 tokens, each attending to itself and the block before (at most W = 16 back),
# and a recurrent state of 8 vectors in the last layer, carried block to block with LSTM-like gates.
# 128 wide, 2 layers, 4 heads: 507,136 parameters against the GPT's 514,048.
# python train.py config/train/train_block_recurrent.py
from pathlib import Path

out_dir = "out/train_block_recurrent"
wandb_run_name = "block_recurrent"
architecture = "block_recurrent"
exec((Path(__file__).parent / "grid_setting.py").read_text())  # the tasks and the 2000 steps
window = 16
state_vectors = 8

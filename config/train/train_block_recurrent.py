# lucidrains' Block-Recurrent Transformer (seed 002; block-recurrent-transformer-pytorch, used as it is) on the grid
# of train_full.py: blocks of W/2 = 8 tokens, each attending to itself and the block before (at most W = 16 back),
# and a recurrent state of 8 vectors in the last layer, carried block to block with LSTM-like gates.
# 128 wide, 2 layers, 4 heads: 507,136 parameters against the GPT's 514,048.
# python train.py config/train/train_block_recurrent.py
out_dir = "out/train_block_recurrent"
wandb_run_name = "block_recurrent"
architecture = "block_recurrent"
tasks = [[16, [2, 15]], [16, 8], [16, 32], [16, 128], [16, 512], [4, 128], [64, 128]]
window = 16
state_vectors = 8
max_iters = 2000
lr_decay_iters = 2000

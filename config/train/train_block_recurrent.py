# lucidrains' Block-Recurrent Transformer (block-recurrent-transformer-pytorch, used as it is) on the grid of
# train_full.py: blocks of W/2 tokens, each attending to itself and the block before, and a recurrent state.
# python train.py config/train/train_block_recurrent.py
base = "grid_setting.py"
out_dir = "out/train_block_recurrent"
wandb_run_name = "block_recurrent"
architecture = "block_recurrent"
window = 16
state_vectors = 8

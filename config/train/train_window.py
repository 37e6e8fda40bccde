# The same GPT as train_full.py with a sliding window of W = 16 positions: the lower bound of issue 17's comparison.
# It sees the queries at distance 8 (W/2) and none of those at 32, 128 and 512 (2, 8 and 32 W).
# python train.py config/train/train_window.py
out_dir = "out/train_window"
wandb_run_name = "window"
tasks = [[16, [2, 15]], [16, 8], [16, 32], [16, 128], [16, 512], [4, 128], [64, 128]]
window = 16
max_iters = 2000
lr_decay_iters = 2000

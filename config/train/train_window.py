# The same GPT as train_full.py with a sliding window of 64 positions, shorter than the 128-token distance: the
# lower bound of issue 17's comparison (the 32-token queries it can see, the 128-token ones it cannot).
# python train.py config/train/train_window.py
out_dir = "out/train_window"
wandb_run_name = "window"
tasks = [[8, 32], [8, 128]]
window = 64

# The same GPT as train_full.py with a sliding window of W = 16 positions: the lower bound of issue 17's comparison.
# python train.py config/train/train_window.py
base = "grid_setting.py"
out_dir = "out/train_window"
wandb_run_name = "window"
window = 16

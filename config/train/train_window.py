# The same GPT as train_full.py with a sliding window of W = 16 positions: the lower bound of issue 17's comparison.
# It sees the queries at distance 8 (W/2) and none of those at 32, 128 and 512 (2, 8 and 32 W).
# python train.py config/train/train_window.py
from pathlib import Path

out_dir = "out/train_window"
wandb_run_name = "window"
exec((Path(__file__).parent / "grid_setting.py").read_text())  # the tasks and the 2000 steps
window = 16

# A small GPT trained from scratch on MQAR with filler (docs/mqar.md), attending over the whole sequence: the upper
# bound of issue 17's comparison of memories. The grid every memory trains on: 16 pairs queried 8, 32, 128 and 512
# tokens after them (1/2, 2, 8 and 32 times the window W = 16 of the windowed models), 4 and 64 pairs at 128, and
# 16 pairs each at its own distance of 2-15 (inside the window: no fixed offset finds those, only the key itself).
# python train.py config/train/train_full.py
from pathlib import Path

out_dir = "out/train_full"
wandb_run_name = "full"
exec((Path(__file__).parent / "grid_setting.py").read_text())  # the tasks and the 2000 steps
window = 0

# A small GPT trained from scratch on MQAR with filler (docs/mqar.md), attending over the whole sequence: the upper
# bound of issue 17's comparison of memories, on the grid of grid_setting.py.
# python train.py config/train/train_full.py
base = "grid_setting.py"
out_dir = "out/train_full"
wandb_run_name = "full"
window = 0

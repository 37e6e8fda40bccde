# The grid and budget every memory of issue 17's comparison trains on (executed by each config/train/train_*.py and
# read by scripts/memories.py): 16 pairs each at its own distance of 2-15 (inside the window W = 16, answerable only
# by the key), 16 pairs at 8, 32, 128 and 512 (1/2, 2, 8 and 32 W), 4 and 64 pairs at 128; 2000 steps.
tasks = [[16, [2, 15]], [16, 8], [16, 32], [16, 128], [16, 512], [4, 128], [64, 128]]
max_iters = 2000
lr_decay_iters = 2000

# The grid and budget every memory of issue 17's comparison trains on (the base of each train_*.py, and read by
# scripts/memories.py): pairs queried inside the window W = 16 (only the key finds them) and at 1/2, 2, 8 and 32 W.
tasks = [[16, [2, 15]], [16, 8], [16, 32], [16, 128], [16, 512], [4, 128], [64, 128]]
max_iters = 2000
lr_decay_iters = 2000

# A small GPT trained from scratch on MQAR with filler (docs/mqar.md), attending over the whole sequence: the upper
# bound of issue 17's comparison of memories. 8 pairs, each queried 32 and 128 tokens after it.
# python train.py config/train/train_full.py
out_dir = "out/train_full"
wandb_run_name = "full"
tasks = [[8, 32], [8, 128]]
window = 0

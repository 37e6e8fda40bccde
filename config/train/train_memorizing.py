# lucidrains' Memorizing Transformer (memorizing-transformers-pytorch, as it is) on the grid of train_full.py: segments
# of W = 16 tokens, the last layer's kNN attention reading the top knn keys of every earlier one; about the GPT's size.
# python train.py config/train/train_memorizing.py
base = "grid_setting.py"
out_dir = "out/train_memorizing"
wandb_run_name = "memorizing"
architecture = "memorizing"
window = 16
n_embd = 152
knn = 32

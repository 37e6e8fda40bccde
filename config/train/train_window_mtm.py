# The windowed GPT of train_window.py trained with this project's memory: in the last layer each query also reads,
# in the same softmax, its top knn of the positions that have left its window, detached (sliding.py).
# python train.py config/train/train_window_mtm.py
base = "train_window.py"
out_dir = "out/train_window_mtm"
wandb_run_name = "window_mtm"
architecture = "window_mtm"
knn = 32

# The windowed GPT of train_window.py (W = 16) trained with this project's memory (issue 17's 'window + mtm,
# trained'): in the last layer each query also reads, in the same softmax, its top 32 (knn) by q . k of the
# positions that have left its window, their keys and values detached, refilled per sequence (sliding.py's
# forward_parallel, as Memorizing Transformers train their kNN layer). Same parameters as train_window.py.
# python train.py config/train/train_window_mtm.py
from pathlib import Path

out_dir = "out/train_window_mtm"
wandb_run_name = "window_mtm"
exec((Path(__file__).parent / "grid_setting.py").read_text())  # the tasks and the 2000 steps
architecture = "window_mtm"
window = 16
knn = 32

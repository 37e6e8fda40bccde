# GPTm (train_gptm.py) with a learned sketch S, initialised as the count sketch.
# python train.py config/train/train_gptm_learned.py
base = "train_gptm.py"
out_dir = "out/train_gptm_learned"
wandb_run_name = "gptm_learned"
learned_sketch = True

# The Vancouver recall method's part every model shares: the Type 2 method with the paper's Table 4 parameters. Each
# model's setting (paper/table4_setting.py, smollm2/vancouver_setting.py) adds its layers and memory mode.
mem_frac = 0.0  # MF: with BF, only the first (bookkeeping) position can be selected
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 1000.0  # TS
resid_only = True  # Type 2: only stored entries are candidates ...
resid_frac = 0.1  # ... and a tenth of the old value is kept

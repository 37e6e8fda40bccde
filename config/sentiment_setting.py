# The sentiment method's part every model shares: the Type 3 method with the paper's Table 1 parameters. Each
# model's sentiment setting (paper/table1_setting.py, <model>/sentiment_setting.py) adds its layers and memory mode.
mem_frac = 5.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 0.01  # TS
resid_only = False  # Type 3: the token's own key/value stay candidates ...
resid_frac = 0.33  # ... and a third of the old value is kept

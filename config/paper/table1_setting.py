# The paper's Table 1 setting on GPT-2 small (sentiment): the Type 3 method in layers 7, 8, 9 (the paper's 1-based
# numbering; indices 6, 7, 8 of knn_num), k 5, MF 5, BF 0.9, TS 0.01, r 0.33, exact mode (the paper's).
# Not a template: executed by the templates that use it (config/README.md), which may change any of it after.
bookkeeping_token = "\n"  # creation 2: prepended to the memory text, then dropped
knn_num = [0, 0, 0, 0, 0, 0, 5, 5, 5, 0, 0, 0]  # k = 5 in layers 7, 8, 9
mem_frac = 5.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 0.01  # TS
resid_only = False  # Type 3: the token's own key/value stay candidates ...
resid_frac = 0.33  # ... and a third of the old value is kept
memory_mode = "exact"

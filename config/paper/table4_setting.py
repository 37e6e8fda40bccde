# The paper's Table 4 setting on GPT-2 small (recall): the Type 2 method in layer 10 (the paper's 1-based
# numbering; index 9 of knn_num), k 5, MF 0, BF 0.9, TS 1000, r 0.1, exact mode (the paper's). MF = 0 with BF 0.9:
# only the first (bookkeeping) position can be selected, in a few heads.
# Not a template: executed by the templates that use it (config/README.md), which may change any of it after.
bookkeeping_token = "\n"  # creation 2
knn_num = [0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0]  # k = 5 in layer 10
mem_frac = 0.0  # MF
bookkeeping_frac = 0.9  # BF
knn_softmax_influence = 1000.0  # TS
resid_only = True  # Type 2: only stored entries are candidates ...
resid_frac = 0.1  # ... and a tenth of the old value is kept
memory_mode = "exact"

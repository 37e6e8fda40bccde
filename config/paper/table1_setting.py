# The paper's Table 1 setting on GPT-2 small (sentiment): Type 3 with Table 1's parameters (../sentiment_setting.py)
# in layers 7, 8, 9 (the paper's 1-based numbering), exact mode (the paper's).
base = "../sentiment_setting.py"
knn_num = [0, 0, 0, 0, 0, 0, 5, 5, 5, 0, 0, 0]  # k = 5 at indices 6, 7, 8
memory_mode = "exact"

# The paper's Table 4 setting on GPT-2 small (recall): Type 2 with Table 4's parameters (../vancouver_setting.py) in
# layer 10 (the paper's 1-based numbering), exact mode (the paper's).
base = "../vancouver_setting.py"
knn_num = [0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0]  # k = 5 at index 9
memory_mode = "exact"

# The paper's Fig. 3: the method's runs with knn_softmax_influence (TS) swept around the setting, no no-memory baseline.
baseline = False
sweep_key = "knn_softmax_influence"
sweep_values = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]

# The paper's Fig. 3: the method's runs with mem_frac (MF) swept around the setting, no no-memory baseline.
baseline = False
sweep_key = "mem_frac"
sweep_values = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]

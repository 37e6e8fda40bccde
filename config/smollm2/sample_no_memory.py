# SmolLM2-135M-Instruct (embedded, offline) with no memory.
# python sample.py config/smollm2/sample_no_memory.py
base = "../sample_setting.py"
init_from = "smollm2"

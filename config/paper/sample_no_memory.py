# GPT-2 small with no memory: the baseline the method is compared with.
# python sample.py config/paper/sample_no_memory.py
base = "../sample_setting.py"
init_from = "gpt2"

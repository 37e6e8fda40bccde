# Gemma 3 270M (the embedded base model, offline) with no memory. Its tokenizer starts every prompt with <bos>.
# python sample.py config/gemma3/sample_no_memory.py
base = "../sample_setting.py"
init_from = "gemma3"

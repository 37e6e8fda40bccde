# Sentiment direction on SmolLM2-135M-Instruct with the Type 3 method, its sentiment setting
# (smollm2/sentiment_setting.py). Memory: five upbeat sentences about cats; prompt: "Cats are horrible".
# python sample.py config/sample_smollm2_type_3_method.py
base = ["sample_setting.py", "smollm2/sentiment_setting.py"]
init_from = "smollm2"
memory = "FILE:data/cats.txt"
unadulterated_gpt = True  # print the no-memory continuation (same seed) first
method_text = "Type 3 method on SmolLM2"

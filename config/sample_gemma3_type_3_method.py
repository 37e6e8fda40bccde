# Sentiment direction on Gemma 3 270M (a base model) with the Type 3 method, its sentiment setting
# (gemma3/sentiment_setting.py). Memory: five upbeat sentences about cats; prompt: "Cats are horrible".
# python sample.py config/sample_gemma3_type_3_method.py
base = ["sample_setting.py", "gemma3/sentiment_setting.py"]
init_from = "gemma3"
memory = "FILE:data/cats.txt"
unadulterated_gpt = True  # print the no-memory continuation (same seed) first
method_text = "Type 3 method on Gemma 3 270M"

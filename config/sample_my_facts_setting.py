# sample.py's recall of your own facts (data/my_facts.txt, one fact a line), shown with and without memory and with
# what was retrieved; each model's template adds its recall setting.
base = "sample_setting.py"
start = "\nThe spare key to the allotment shed is hidden under the"
num_samples = 3
max_new_tokens = 30
memory = "FILE:data/my_facts.txt"
one_text_per_line = True  # each line is a fact: one chunk
unadulterated_gpt = True
explain = True

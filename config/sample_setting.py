# sample.py's demo sampling, shared by the sample_*.py templates: the cats prompt, one sample, the paper's
# temperature and top-k, one seed. Not a template: templates name it in `base` (config/README.md).
start = "\nCats are horrible"
num_samples = 1
max_new_tokens = 100
temperature = 0.8
top_k = 200
seed = 1337

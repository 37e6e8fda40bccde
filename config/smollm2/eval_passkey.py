# Passkey retrieval on SmolLM2-135M-Instruct (passkey.py): the haystack in memory, cut into texts of about 250 tokens,
# the question alone, the haystack in the context while it fits; the method: its recall setting without the check.
# python evaluate.py config/smollm2/eval_passkey.py
base = "recall_setting.py"
mode = "passkey"
init_from = "smollm2"
out_dir = "out/passkey_smollm2"
passkey_lengths = [1024, 4096, 16384, 65536]
passkey_trials = 20
context_trials = 5  # the haystack in the context: fewer trials, for time
conditions = ["question", "in_context", "method"]
max_new_tokens = 8
chunk_min_overlap = None  # passkey questions always concern the haystack: no check

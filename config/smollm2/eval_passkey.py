# Passkey retrieval on SmolLM2-135M-Instruct (the Landmark-attention format; passkey.py): the haystack in memory
# at 1K-64K tokens, 20 trials each, greedy, exact match; the question alone; the haystack in the context while
# it fits the 8192-token window (the upper bound; 5 trials). The method: the recall setting (recall_setting.py:
# chunk retrieval by three heads of layer 17, every layer reading the chosen text, laid out before the prompt after
# its bookkeeping token) without its gate; the haystack is cut into texts of 10 filler periods (about 250 tokens),
# each read on its own, one of them holding the key.
# python evaluate.py config/smollm2/eval_passkey.py
from pathlib import Path

mode = "passkey"
init_from = "smollm2"
out_dir = "out/passkey_smollm2"
passkey_lengths = [1024, 4096, 16384, 65536]
passkey_trials = 20
context_trials = 5  # the haystack in the context: 5 trials (a 4K-token prompt takes about 40 s here)
conditions = ["question", "in_context", "method"]
max_new_tokens = 8
exec((Path(__file__).parent / "recall_setting.py").read_text())
chunk_min_overlap = None  # passkey questions always concern the haystack: no check

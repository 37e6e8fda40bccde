# Gemma 3 270M's recall setting: chunk retrieval, chosen on the dev split of the fact benchmark (eval_facts_dev.py)
# and reported on its test split (eval_facts_test.py; docs/results.md, "Gemma 3 270M"). Each memory text (a fact) is
# read on its own after <bos>. For a prompt, three query heads of layer 5 (the first global layer) score every text
# against the stored keys and choose the best one; if it holds enough of the prompt's rare words
# (chunk_min_overlap: the relevance check), every layer's attention reads that text's stored keys and values, laid
# out just before the prompt, in the same softmax as the prompt (local layers too: memory entries are never cut by
# the sliding window), after the <bos> it was read after.
# Not a template: executed by the templates that use it (config/README.md), which may change any of it after.
bookkeeping_token = "<bos>"
knn_num = [1000] * 18  # every layer reads every token of the chosen text (k >= its length)
retrieval = "attention"
search = "query_ip"
chunk_select = 1
chunk_by = "text"
chunk_layers = [5]
chunk_heads = [1, 2, 3]  # the heads of layer 5 that best tell a fact from its neighbours (dev)
chunk_hub_k = 10  # choose by each text's score minus its typical one, the mean of its 10 best over 200 openings of
# real prose (chunk_typical, CSLS's hubness term): long texts, with more chances of a high best match, stop being
# hubs. Dev, `python scripts/relevance.py gemma3 long` (facts + 1000 prose texts + 100 long ones), the fact chosen
# for questions / paraphrases: 0.884 / 0.873 -> 0.994 / 1.000
chunk_min_score = None  # the raw score's gate of before (16.6) is replaced by the relevance check:
chunk_overlap_by = "char_ngrams"  # the check counts the character 4-grams of the words, not the tokens: a name
chunk_ngram = 4  # counts alike at a line's start and after a space, where the tokenizer cuts it otherwise
chunk_rarity_power = 3  # each 4-gram weighs its rarity cubed: names count most
chunk_min_overlap = 0.6962  # read the chosen text only if it holds this share of the question's rarity
# (memory.rare_overlap, each 4-gram weighted by its rarity in real prose). Fitted on dev, the same for both models (the
# check reads text, not tokens), by `python scripts/ngram_check.py`: the share at which 1 in 10 questions about a
# similar entity would read the look-alike fact; then 0.906 of dev questions and 0.878 of paraphrases read their fact
# (counted on this model's tokens: 0.856, 0.757; the raw gate (16.6): 0.624, 0.470); test: docs/results.md.
mem_position = "before"
mem_sink = True  # the bookkeeping token laid out before the fact: the attention sink it was read after
mem_hide_start = 1  # where the fact is read, the prompt's own <bos> is hidden behind the fact's: the model reads
# <bos> fact question, as in the context, not <bos> fact <bos> question (dev, every fact read: top-1 0.657 -> 0.702,
# paraphrases 0.475 -> 0.575, the context's own 0.702 and 0.575; docs/results.md)
memory_mode = "cached"

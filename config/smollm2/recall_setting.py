# SmolLM2-135M-Instruct's recall setting: chunk retrieval, chosen on the dev split of the fact benchmark and
# reported on its test split (docs/results.md). Each memory text (a fact) is read and stored on its own. For a
# prompt, three query heads of layer 17 score every text against the stored keys and choose the best one; if it
# holds enough of the prompt's rare words (chunk_min_overlap: the relevance check), every layer's attention reads
# that text's stored keys and values, laid out just before the prompt, in the same softmax as the prompt, after the
# bookkeeping token it was read after.
# Not a template: executed by the templates that use it (config/README.md), which may change any of it after.
bookkeeping_token = "\n"
knn_num = [1000] * 30  # every layer reads every token of the chosen text (k >= its length)
retrieval = "attention"
search = "query_ip"
chunk_select = 1
chunk_by = "text"
chunk_layers = [17]
chunk_heads = [3, 4, 5]  # the heads of layer 17 that best tell a fact from its neighbours (dev)
chunk_hub_k = 10  # choose by each text's score minus its typical one, the mean of its 10 best over 200 openings of
# real prose (chunk_typical, CSLS's hubness term): long texts, with more chances of a high best match, stop being
# hubs. Dev, `python scripts/relevance.py smollm2 long` (facts + 1000 prose texts + 100 long ones), the fact chosen
# for questions / paraphrases: 0.939 / 0.989 -> 0.989 / 1.000
chunk_min_score = None  # the raw score's gate of before (2.8) is replaced by the relevance check:
chunk_overlap_by = "char_ngrams"  # the check counts the character 4-grams of the words, not the tokens: a name
chunk_ngram = 4  # counts alike at a line's start and after a space, where the tokenizer cuts it otherwise
chunk_rarity_power = 3  # each 4-gram weighs its rarity cubed: names count most
chunk_min_overlap = 0.6962  # read the chosen text only if it holds this share of the question's rarity
# (memory.rare_overlap, each 4-gram weighted by its rarity in real prose). Fitted on dev, the same for both models (the
# check reads text, not tokens), by `python scripts/ngram_check.py`: the share at which 1 in 10 questions about a
# similar entity would read the look-alike fact; then 0.906 of dev questions and 0.878 of paraphrases read their fact
# (counted on this model's tokens: 0.807, 0.685; the raw gate (2.8): 0.713, 0.497); test: docs/results.md.
mem_position = "before"
mem_sink = True  # the bookkeeping token laid out before the fact: the attention sink it was read after
memory_mode = "cached"

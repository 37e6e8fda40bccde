# The recall setting's part every model shares: chunk retrieval. Chosen heads score every memory text (a fact, read
# on its own) against the prompt; the best is read, laid out before the prompt, if it passes the relevance check.
retrieval = "attention"
search = "query_ip"
chunk_select = 1
chunk_by = "text"
chunk_hub_k = 10  # choose by each text's score minus its typical one over real prose (CSLS's hubness term)
chunk_min_score = None  # no gate on the raw score: the relevance check decides
chunk_overlap_by = "char_ngrams"  # the check counts the character 4-grams of the words, not the tokens
chunk_ngram = 4
chunk_rarity_power = 3  # each 4-gram weighs its rarity cubed: names count most
chunk_min_overlap = 0.6962  # read the chosen text only if it holds this share of the prompt's rarity (fitted on dev)
mem_position = "before"
mem_sink = True  # the bookkeeping token laid out before the fact: the attention sink it was read after
memory_mode = "cached"

# SmolLM2-135M-Instruct's recall setting: chunk retrieval, chosen on the dev split of the fact benchmark and
# reported on its test split (docs/results.md). Each memory text (a fact) is read and stored on its own. For a
# prompt, three query heads of layer 17 score every text against the stored keys and choose the best one; if it
# matches well enough (chunk_min_score), every layer's attention reads that text's stored keys and values, laid out
# just before the prompt, in the same softmax as the prompt, after the bookkeeping token it was read after.
# Not a template: executed by the templates that use it (config/README.md), which may change any of it after.
bookkeeping_token = "\n"
knn_num = [1000] * 30  # every layer reads every token of the chosen text (k >= its length)
retrieval = "attention"
search = "query_ip"
chunk_select = 1
chunk_by = "text"
chunk_layers = [17]
chunk_heads = [3, 4, 5]  # the heads of layer 17 that best tell a fact from its neighbours (dev)
chunk_min_score = 2.8  # read the chosen text only if it matches this well (dev: 9 in 10 questions about a
# similar entity then stay clear of the fact; a question about the fact itself passes 7 times in 10). Lower it
# to read more: 2.4 (dev: top-1 0.630, specificity 0.80), None (0.669, 0.21)
mem_position = "before"
mem_sink = True  # the bookkeeping token laid out before the fact: the attention sink it was read after
memory_mode = "cached"

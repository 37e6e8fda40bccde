"""Loop-based references of chunk retrieval's chooser and its relevance decision (mtm/method/chunks.py,
mtm/method/relevance.py), written out plainly: the tests compare the vectorised code with these."""
import math


def reference_choose_chunks(queries, store, chunk_layers, chunk_ids, n_chunks, heads=None, skip=1, hub_queries=(),
                            hub_k=0):
    """queries: {layer: [H, T, d]} one prompt's (pre-rotary) queries. A chunk's score: for every layer, query
    head (of heads; None: all) and position skip.. (all of them in a prompt no longer than skip), the best
    q . k / sqrt(d) among the chunk's stored tokens; averaged. hub_k > 0: minus the mean of the chunk's hub_k best
    scores over the reference prompts' queries hub_queries (a list of such dicts). The n best chunks."""
    chunks = sorted(set(chunk_ids))

    def score(c, queries):
        members = [i for i, x in enumerate(chunk_ids) if x == c]
        total, count = 0.0, 0
        for layer in chunk_layers:
            q = queries[layer].double()
            H, T, d = q.shape
            keys = store.keys[layer].double()
            group = H // keys.shape[0]
            for h in range(H) if heads is None else heads:
                for t in range(skip if T > skip else 0, T):
                    total += max(float(q[h, t] @ keys[h // group, i]) / math.sqrt(d) for i in members)
                    count += 1
        return total / count

    def typical(c):
        return sum(sorted(score(c, r) for r in hub_queries)[-hub_k:]) / hub_k if hub_k else 0.0

    scores = [score(c, queries) - typical(c) for c in chunks]
    return sorted(chunks, key=lambda c: -scores[chunks.index(c)])[:n_chunks]


def reference_rare_overlap(prompt, chunk, rarity, power=1.0):
    """The relevance check, one prompt and one chunk, as lists of token ids: of the prompt's distinct tokens, the
    share of their summed rarity (each to the power) that belongs to tokens which occur in the chunk."""
    distinct = set(prompt)
    total = sum(float(rarity[t]) ** power for t in distinct)
    return sum(float(rarity[t]) ** power for t in distinct if t in set(chunk)) / total


def reference_ngram_overlap(prompt_text, chunk_text, prose, n, power=1.0):
    """The relevance check counted on character n-grams (chunk_overlap_by='char_ngrams'), by loops: a word is a run
    of letters, digits or '_', lower-cased, marked '<' + word + '>'; its n-grams are its n consecutive characters
    (a marked word shorter than n: the word itself); each n-gram weighs ln((D + 1) / (df + 0.5)) over the D prose
    texts, to the power; the share of the prompt's distinct n-grams' weight that the chunk's n-grams hold."""
    def grams(text):
        words, word = [], ""
        for ch in text.lower() + " ":
            if ch.isalnum() or ch == "_":
                word += ch
            elif word:
                words.append("<" + word + ">")
                word = ""
        out = []
        for w in words:
            if len(w) <= n:
                out.append(w)
            for i in range(len(w) - n + 1):
                out.append(w[i:i + n])
        return set(out)
    weight = {}
    for g in grams(prompt_text):
        df = sum(g in grams(text) for text in prose)
        weight[g] = math.log((len(prose) + 1) / (df + 0.5)) ** power
    held = grams(chunk_text)
    return sum(w for g, w in weight.items() if g in held) / sum(weight.values())


def reference_next_hop(prompt, read_texts, texts, skip=1, power=1.0):
    """A further round of chunk retrieval, one prompt as a list of token ids, the texts read so far and every
    stored text (lists of token ids): the bridge (the read texts' tokens not among the prompt's positions skip..)
    and each text's score, the share of the bridge's rarity it holds, rarity being the inverse document frequency
    among the stored texts, ln((C + 1) / (df + 0.5)), to the power."""
    asked = set(prompt[skip:])
    bridge = [t for text in read_texts for t in text if t not in asked]
    df = lambda t: sum(t in set(x) for x in texts)
    rarity = {t: math.log((len(texts) + 1) / (df(t) + 0.5)) for t in bridge}
    return bridge, [reference_rare_overlap(bridge, x, rarity, power) if bridge else 0.0 for x in texts]

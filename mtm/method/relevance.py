"""The relevance decision of chunk retrieval (docs/METHOD.md step 3a): does a chosen text hold enough of the
prompt's rarity? The share (rare_overlap), counted on tokens or on the words' character n-grams, each weighed by
its inverse document frequency over real prose (token_rarity, ngram_rarity), the same for every store."""
import collections
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch


def store_rarity(token_ids, starts, lengths):
    """Each token's rarity among the store's chunks (starts, lengths [C] into token_ids [N]): its inverse document
    frequency ln((C + 1) / (df + 0.5)), df the chunks it occurs in; [max id + 1]."""
    chunk = torch.repeat_interleave(torch.arange(len(lengths)), torch.as_tensor(lengths))
    at = torch.cat([torch.arange(a, a + n) for a, n in zip(starts, lengths)])
    vocab = int(token_ids.max()) + 1
    pairs = torch.unique(chunk * vocab + token_ids[at].long())
    df = torch.bincount(pairs % vocab, minlength=vocab).float()
    return torch.log((len(lengths) + 1) / (df + 0.5))


def char_ngrams(text, n):
    """The relevance check's units with chunk_overlap_by='char_ngrams': the distinct character n-grams of each
    lower-cased word (a run of letters, digits or '_') with its ends marked, '<' + word + '>' (a shorter marked
    word: itself). 'Tamsin' at a line's start and ' Tamsin' after a space, two tokens apart, give the same."""
    out = set()
    for word in re.findall(r"\w+", text.lower()):
        marked = f"<{word}>"
        out.update(marked[i:i + n] for i in range(max(1, len(marked) - n + 1)))
    return out


@dataclass
class NgramRarity:
    """What chunk_overlap_by='char_ngrams' weighs by (relevance.ngram_rarity): each n-gram's inverse document
    frequency over real prose (`unseen` for one the prose never has), and the tokenizer's decode, which turns
    token ids back into the words the n-grams are counted on."""
    idf: dict = field(repr=False)
    unseen: float
    n: int
    decode: object = field(repr=False)
    _seen: dict = field(default_factory=dict, repr=False)  # a chunk's token ids -> its n-grams (chosen again often)

    def units(self, ids):
        return char_ngrams(self.decode([int(t) for t in ids]), self.n)

    def chunk_units(self, token_ids, start, length):
        ids = tuple(token_ids[start:start + length].tolist())
        if ids not in self._seen:
            self._seen[ids] = self.units(ids)
        return self._seen[ids]

    def weight(self, gram, power):
        return self.idf.get(gram, self.unseen) ** power


def rare_overlap(prompts, chunks, token_ids, starts, lengths, rarity, power=1.0):
    """
    The relevance check of chunk retrieval (docs/METHOD.md, "The relevance decision"): for each prompt of prompts
    [R, T] and each of its chosen chunks [R, c], the share of the prompt's rarity found in the chunk:
    sum of rarity[t] ** power over the prompt's distinct tokens t that occur in the chunk / the same over all of
    them. A question about the stored entity shares its rare tokens (the name, the unusual words); a question about
    a similar entity lacks the name's; a paraphrase keeps the name but brings words of its own, which a power > 1
    weighs less against the name. token_ids [N]: the store's tokens; starts, lengths [C]: the chunks. Returns [R, c].
    rarity: [vocab] per token, or an NgramRarity: the same share over the prompt's and the chunk's words' n-grams.
    """
    if isinstance(rarity, NgramRarity):
        out = torch.zeros(chunks.shape, dtype=torch.float32)
        for r, prompt in enumerate(prompts.tolist()):
            mine = {g: rarity.weight(g, power) for g in rarity.units(prompt)}
            total = max(sum(mine.values()), 1e-12)
            for j, c in enumerate(chunks[r].tolist()):
                held = rarity.chunk_units(token_ids, starts[c], lengths[c])
                out[r, j] = sum(w for g, w in mine.items() if g in held) / total
        return out
    rarity = rarity.float().cpu() ** power
    out = torch.zeros(chunks.shape, dtype=torch.float32)
    for r, prompt in enumerate(prompts.cpu()):
        mine = prompt.unique()                                    # [P] distinct tokens of the prompt
        weight = rarity[mine]
        for j, c in enumerate(chunks[r].tolist()):
            held = torch.isin(mine, token_ids[starts[c]:starts[c] + lengths[c]].cpu())
            out[r, j] = weight[held].sum() / weight.sum().clamp_min(1e-12)
    return out


RARITY_TEXT = Path(__file__).resolve().parents[2] / "data" / "prose" / "dev.txt"  # real prose, a paragraph a line


def token_rarity(tokenizer, vocab_size, texts=None):
    """
    Each token's rarity [vocab_size]: its inverse document frequency, log((D + 1) / (df + 0.5)), over D texts of
    real prose (default: data/prose/dev.txt, docstrings of Python's standard library, a paragraph a line), the
    weights of the relevance check (relevance.rare_overlap, chunk_min_overlap). Names and unusual words never occur
    there and weigh most; 'the', 'is', punctuation weigh least. The same for every store: it does not depend on
    what a memory holds, so it means the same at n = 1 and n = 100,000.
    """
    texts = RARITY_TEXT.read_text().splitlines() if texts is None else texts
    df = torch.zeros(vocab_size)
    for text in texts:
        ids = torch.tensor(sorted(set(tokenizer.encode(text))), dtype=torch.long)
        df[ids[ids < vocab_size]] += 1
    return torch.log((len(texts) + 1) / (df + 0.5))


def ngram_rarity(tokenizer, n, texts=None):
    """The relevance check's weights with chunk_overlap_by='char_ngrams' (relevance.NgramRarity): each character n-gram
    of the words of the same prose as token_rarity's, weighed by its inverse document frequency there,
    log((D + 1) / (df + 0.5)); an n-gram the prose never has weighs log((D + 1) / 0.5). The same for every
    tokenizer: only decode is the tokenizer's."""
    texts = RARITY_TEXT.read_text().splitlines() if texts is None else texts
    df = collections.Counter(g for text in texts for g in char_ngrams(text, n))
    idf = {g: math.log((len(texts) + 1) / (count + 0.5)) for g, count in df.items()}
    return NgramRarity(idf, math.log((len(texts) + 1) / 0.5), n, tokenizer.decode)


_RARITY = {}  # (tokenizer name, vocab size, what is counted) -> its rarity, computed once a process


def rarity_for(settings, tokenizer, model):
    """The rarity a Memory with these settings needs (chunk_min_overlap set; relevance.rare_overlap), else None:
    token_rarity, or ngram_rarity (chunk_overlap_by='char_ngrams')."""
    if settings.chunk_min_overlap is None:
        return None
    by_ngrams = settings.chunk_overlap_by == "char_ngrams"
    key = tokenizer.name, model.config.vocab_size, settings.chunk_ngram if by_ngrams else "tokens"
    if key not in _RARITY:
        _RARITY[key] = (ngram_rarity(tokenizer, settings.chunk_ngram) if by_ngrams
                        else token_rarity(tokenizer, model.config.vocab_size))
    return _RARITY[key]

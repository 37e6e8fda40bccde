"""Chunk retrieval's chooser (docs/METHOD.md stage 1): the model's own queries score every stored chunk (late
interaction), the hub term corrects the scores, the relevance check (relevance.py) decides what is read, and the
chosen chunks are laid out before the context. choose_chunks returns what one prompt reads, a Choice."""
import math
import random
import weakref
from dataclasses import dataclass, field, replace

import torch

from mtm.method.relevance import RARITY_TEXT, rare_overlap, store_rarity
from mtm.method.settings import MemorySettingsError


@dataclass
class Choice:
    """What one batch of prompts reads from a store (choose_chunks): per row the chosen chunks, their scores and
    which of them pass the gate and the relevance check, the stored tokens laid out, and what generation reuses."""
    chosen: torch.Tensor   # [B, chunk_select x chunk_hops] chunk numbers, best first per round
    scores: torch.Tensor   # [B, c x hops] their scores (later rounds: the bridge share)
    read: torch.Tensor     # [B, c x hops] bool: read (the gate and the relevance check)
    entries: tuple         # (index, position, valid), each [B, M]: the stored tokens each row reads (chunk_layout)
    recomputed: tuple = None  # a kv='recompute' store: the chosen rows [U], {layer: keys, values [H_kv, U, d]}
    cache: dict = field(default_factory=dict)  # per layer, the entries' keys and values gathered (and rotated)


@torch.no_grad()
def choose_chunks(model, idx, memory):
    """
    Stage 1 of chunk retrieval: the model without memory reads the prompt idx [B, T]; in each of chunk_layers,
    every query (pre-rotary) of positions chunk_skip.. (by default 1..: position 0 is the same whatever is
    asked) of the chunk_heads (default all) is compared with every stored key of its KV head: a chunk's score is
    the best match among its tokens, averaged over the queries, heads and layers. Each row takes its
    chunk_select best chunks, then (chunk_hops > 1) more in further rounds (next_hop).
    Returns the Choice: what each row reads.
    """
    s, store = memory.settings, memory.store
    _, starts, lengths = store.chunks(s.chunk_by, s.chunk_size)
    rows, inverse = torch.unique(idx, dim=0, return_inverse=True)  # seeds share their prompt: score it once
    score = chunk_score(model, rows, s, store)  # [R, C]
    if s.chunk_hub_k:
        score = score - chunk_typical(model, memory)
    best, top = score.topk(min(s.chunk_select, len(starts)), dim=-1)  # [R, c], best first
    read = passes_check(memory, rows[:, s.chunk_skip:], best, top, starts, lengths)
    hops = [(best, top, read)]
    for _ in range(s.chunk_hops - 1):
        chosen, ok = torch.cat([h[1] for h in hops], 1), torch.cat([h[2] for h in hops], 1)
        if chosen.shape[1] >= len(starts):
            break
        hops.append(next_hop(rows, memory, chosen, ok, starts, lengths))
    # the latest hop nearest the prompt: the texts are laid out in the order they were found, as a context would be
    best, top, read = (torch.cat([h[i] for h in hops[::-1]], 1) for i in range(3))
    sink = store.sink_length if s.mem_sink and s.mem_position == "before" else 0
    entries = chunk_layout(top[inverse], starts, lengths, idx.device, read[inverse], sink, s.mem_hide_start)
    recomputed = recompute_rows(model, store, entries[0], s.layers) if store.recomputes else None
    return Choice(chosen=top[inverse], scores=best[inverse], read=read[inverse], entries=entries,
                  recomputed=recomputed)


def chunk_score(model, rows, s, store, queries=None):
    """Every chunk's score for each prompt of rows [R, T] under settings s: the best match among its tokens,
    averaged over the chooser's queries, heads and layers (queries: chooser_queries' output for rows, if already at
    hand). [R, C]."""
    score, terms = 0, 0
    for layer, kv, q in queries if queries is not None else chooser_queries(model, rows, s, store.meta["n_head"]):
        score = score + store.chunk_scores(layer, kv, q, s.chunk_by, s.chunk_size, s.chunk_backend)
        terms += q.shape[1]
    return score / terms


@dataclass
class HubPrompts:
    """The reference prompts of the chooser's hubness term (chunk_hub_k > 0; chunks.hub_prompts): token ids of
    openings of lines of real prose (the same for every store), and, per model and chooser, their queries (read once: a store's
    typical scores then cost one comparison of those queries with the store's keys)."""
    prompts: list = field(repr=False)  # [P] lists of token ids
    _queries: object = field(default_factory=weakref.WeakKeyDictionary, repr=False)  # model -> {chooser: [P] lists}

    def __post_init__(self):
        self.key = tuple(tuple(p) for p in self.prompts)  # what names them in a store's cache (chunk_typical)

    def queries(self, model, s, n_kv_head):
        chooser = (tuple(s.chunk_layers), s.chunk_heads and tuple(s.chunk_heads), s.chunk_skip)
        mine = self._queries.setdefault(model, {})
        if chooser not in mine:
            device = next(model.parameters()).device
            mine[chooser] = [list(chooser_queries(model, torch.tensor([p], device=device), s, n_kv_head))
                             for p in self.prompts]
        return mine[chooser]


def chunk_typical(model, memory):
    """
    Each chunk's typical score [C] (chunk_hub_k > 0): the mean of its chunk_hub_k best chooser scores (chunk_score,
    exact: the torch backend) over the reference prompts memory.hub (HubPrompts), openings of lines of real prose,
    the same for every store (a dev store may hold those lines: test stores do not). CSLS's hubness term (Conneau et al. 2018): a chunk that matches every prompt well, as a long one
    does with its many chances of a high best match, has a high typical score, and choose_chunks subtracts it.
    Computed once per store and chooser (MemoryStore.derived), again after an append; a forgotten chunk's is 0 (it
    is never chosen).
    """
    s, store, hub = memory.settings, memory.store, memory.hub
    if hub is None:
        raise MemorySettingsError("chunk_hub_k scores each chunk against reference prompts: build the Memory with "
                                  "hub=chunks.hub_prompts(settings, tokenizer)")
    if s.chunk_hub_k > len(hub.prompts):
        raise MemorySettingsError(f"chunk_hub_k = {s.chunk_hub_k} best scores over {len(hub.prompts)} reference "
                                  "prompts: give chunk_hub_k <= chunk_hub_prompts")
    exact = replace(s, chunk_backend="torch")

    def make():
        queries = hub.queries(model, s, store.meta["n_head"])
        scores = torch.cat([chunk_score(model, None, exact, store, q) for q in queries])  # [P, C]
        typical = scores.topk(s.chunk_hub_k, dim=0).values.mean(0)
        return torch.where(typical.isfinite(), typical, torch.zeros_like(typical))
    chooser = (s.chunk_by, s.chunk_size, tuple(s.chunk_layers), s.chunk_heads and tuple(s.chunk_heads), s.chunk_skip,
               s.chunk_hub_k, hub.key)
    return store.derived(("typical", chooser), make)


def passes_check(memory, prompts, best, top, starts, lengths):
    """Which chosen chunks top [R, c] (scores best) are read: the gate (chunk_min_score) and the relevance check
    (chunk_min_overlap) against prompts [R, P], the tokens whose rarity they must hold. Returns [R, c] bool."""
    s = memory.settings
    read = best >= s.chunk_min_score if s.chunk_min_score is not None else best > float("-inf")
    if s.chunk_min_overlap is not None:
        if memory.rarity is None:
            raise MemorySettingsError("chunk_min_overlap weighs the prompt's tokens by their rarity: build the Memory "
                                      "with rarity=relevance.rarity_for(settings, tokenizer, model)")
        overlap = rare_overlap(prompts, top, memory.store.token_ids, starts, lengths, memory.rarity,
                               s.chunk_rarity_power)
        read &= overlap >= s.chunk_min_overlap
    return read


def next_hop(rows, memory, chosen, read, starts, lengths):
    """A further round of choosing (chunk_hops > 1), one prompt at a time. The texts read so far (chosen [R, n]
    where read) bring the *bridge*: their tokens absent from the prompt (for a two-hop question, the town). Each
    chunk not yet chosen is scored by rare_overlap against the bridge, every token weighed by its rarity among
    the store's own chunks (store_rarity), to the power chunk_rarity_power: the words every first fact shares
    weigh little, a token few texts hold (the town) much more. The chunk_select best are read if they reach
    chunk_min_overlap (None: if above 0). A row whose texts bring nothing new (or that read nothing) reads nothing
    more. Returns best, top, read [R, c]."""
    s, ids = memory.settings, memory.store.token_ids.cpu()
    k = min(s.chunk_select, len(starts) - chosen.shape[1])
    rarity, dead = store_rarity(ids, starts, lengths), memory.store.forgotten_tokens()
    dead = None if dead is None else dead.cpu()
    out = []
    for r, row in enumerate(rows.cpu()):
        texts = [ids[starts[c]:starts[c] + lengths[c]] for c, ok in zip(chosen[r].tolist(), read[r].tolist()) if ok]
        found = torch.cat(texts) if texts else row[:0]
        bridge = found[~torch.isin(found, row[s.chunk_skip:])][None]
        score = rare_overlap(bridge, torch.arange(len(starts))[None], ids, starts, lengths, rarity,
                             s.chunk_rarity_power)  # [1, C]; all 0 for an empty bridge
        score[0, chosen[r].cpu()] = float("-inf")
        if dead is not None:  # a forgotten text's chunks are never chosen
            score[0, dead[starts]] = float("-inf")
        best, top = score.topk(k, dim=-1)
        ok = (best >= s.chunk_min_overlap) if s.chunk_min_overlap is not None else best > 0
        out.append((best, top, ok & (bridge.numel() > 0)))  # nothing read so far, or nothing new: nothing more
    return tuple(torch.cat(t) for t in zip(*out))  # on the CPU, as the first round's


def chooser_queries(model, rows, s, n_kv_head):
    """
    The queries the chooser scores chunks with: the model without memory reads rows [R, T]; for each of
    s.chunk_layers and each KV head, the queries (pre-rotary) of positions s.chunk_skip.. of those of s.chunk_heads
    (default all) that read that KV head, scaled by 1 / sqrt(d) as attention scales them. Yields (layer, kv,
    queries [R, Q, d]), Q = heads x positions.
    """
    capture = {layer: None for layer in s.chunk_layers}
    model(rows, capture=capture)
    for layer in s.chunk_layers:
        q = capture[layer][0].float().cpu()  # [R, H, T, d]
        q = q[:, :, s.chunk_skip:] if q.shape[2] > s.chunk_skip else q
        group, d = q.shape[1] // n_kv_head, q.shape[-1]
        heads = range(q.shape[1]) if s.chunk_heads is None else s.chunk_heads
        for kv in range(n_kv_head):
            mine = [h for h in heads if h // group == kv]
            if mine:
                yield layer, kv, q[:, mine].reshape(len(rows), -1, d) / math.sqrt(d)


def recompute_rows(model, store, index, layers):
    """A kv='recompute' store keeps no keys and values to read: the model reads the windows that hold the stored
    tokens index [B, M] (>= 0; the rest is ignored) again, as reading.py first read them, and keeps their keys and
    values in `layers`. Returns (rows [U], {layer: (keys, values) [H_kv, U, d]}), rows sorted: Memory.gather."""
    rows = index[index >= 0].unique().cpu()
    if len(rows) == 0:
        rows = torch.zeros(1, dtype=torch.long)
    ids, window, column = store.windows(rows)
    capture = {layer: None for layer in layers}
    model(ids.to(index.device), capture=capture)
    kv = {layer: tuple(t[window.to(t.device), :, column.to(t.device)].transpose(0, 1)  # [H_kv, U, d]
                       for t in capture[layer][1:]) for layer in layers}
    return rows.to(index.device), kv


def chunk_layout(chosen, starts, lengths, device, read=None, sink=0, hide=0):
    """The chosen chunks laid out before the context, the best one nearest to it: for each row the stored token
    indices, their positions (the last memory token at hide - 1: just before the context's position 0, or, where the
    prompt's first `hide` positions are hidden (mem_hide_start), in the place of the last hidden one) and a validity
    mask, each [B, M] (rows padded to the longest, index -1). read [B, c]: which chosen chunks are read. sink: the
    number of bookkeeping tokens laid out first, index -2 - j for token j, in rows that read any."""
    rows = []
    read = torch.ones_like(chosen, dtype=torch.bool) if read is None else read
    for chunks, ok in zip(chosen.tolist(), read.tolist()):
        first = -2 - torch.arange(sink) if any(ok) else torch.zeros(0, dtype=torch.long)
        rows.append(torch.cat([first] + [torch.arange(starts[c], starts[c] + lengths[c])
                                         for c, r in zip(chunks[::-1], ok[::-1]) if r]))
    M = max(len(r) for r in rows)
    index = torch.full((len(rows), M), -1, dtype=torch.long)
    position = torch.zeros(len(rows), M, dtype=torch.long)
    for b, r in enumerate(rows):
        index[b, :len(r)] = r
        position[b, :len(r)] = torch.arange(len(r)) - len(r) + hide
    return index.to(device), position.to(device), (index != -1).to(device)


HUB_OPENING_WORDS = 12  # a reference prompt: a prose text's first words, about a question's length


def hub_prompts(settings, tokenizer, texts=None):
    """The reference prompts of the chooser's hubness term (chunk_hub_k > 0; chunks.chunk_typical), else None:
    chunk_hub_prompts openings (a new line and the first HUB_OPENING_WORDS words) of texts of real prose drawn at
    random, always the same (default: the prose of token_rarity), as token ids of prompts: a chunks.HubPrompts."""
    if not settings.chunk_hub_k:
        return None
    key = tokenizer.name, settings.chunk_hub_prompts
    if texts is None and key in _HUB:
        return _HUB[key]
    prose = RARITY_TEXT.read_text().splitlines() if texts is None else texts
    if settings.chunk_hub_prompts > len(prose):
        raise MemorySettingsError(f"chunk_hub_prompts = {settings.chunk_hub_prompts}: the prose has {len(prose)} texts")
    drawn = random.Random(0).sample(prose, settings.chunk_hub_prompts)
    prompts = HubPrompts([tokenizer.prompt("\n" + " ".join(t.split()[:HUB_OPENING_WORDS])) for t in drawn])
    if texts is None:
        _HUB[key] = prompts
    return prompts


_HUB = {}  # (tokenizer name, how many) -> the reference prompts of the default prose, drawn once a process

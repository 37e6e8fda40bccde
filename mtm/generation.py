"""
Generation for every model family: the KV cache and sampling. Above the families (model.py, llama.py), below
the loading (loading.py) and the scripts.

    idx = generate(model, prompt_ids, max_new_tokens=100, temperature=0.8, top_k=200, memory=memory)
"""

import torch
from torch.nn import functional as F

from memory import with_chunks


class KVCache:
    """
    Past positions' tensors, per layer: keys and values, and in memory layers whatever the method reads again
    (queries, pre-rotary vectors, updated values, a layer's input: memory.attend and memory_attention name them).
    state(layer) is a layer's own small state (exact mode's last selection). Exact mode recomputes only the rows
    whose outputs can change (see memory.memory_attention).
    """

    def __init__(self, capacity=0):
        self._tensors = {}  # layer -> {name: buffer [..., positions, d]}
        self._state = {}    # layer -> {name: anything}
        self.length = 0  # positions processed so far
        self.capacity = capacity  # positions to make room for at once (generate knows how many it will need)

    def state(self, layer):
        """The layer's own state, a dict that lives as long as the cache."""
        return self._state.setdefault(layer, {})

    def read(self, layer, *names, end=None):
        """The named tensors of a layer, positions 0..length-1 (after a forward: every position read so far), or
        0..end-1 (inside a forward: what its layers have written so far)."""
        end = self.length if end is None else end
        return [self._tensors[layer][name][..., :end, :] for name in names]

    def write(self, layer, start, **new):
        """Write each named tensor [..., T_new, d] at positions start.. (overwriting what was there) and return
        the first start + T_new positions of each, in order. A buffer grows by doubling, so a new token costs
        no copy of the past, as torch.cat of the whole cache at every step would."""
        entry = self._tensors.setdefault(layer, {})
        out = []
        for name, t in new.items():
            end = start + t.shape[-2]
            buf = entry.get(name)
            if buf is None or buf.shape[-2] < end:
                grown = t.new_empty(*t.shape[:-2], max(end, 2 * start, self.capacity), t.shape[-1])
                if buf is not None:
                    grown[..., :start, :] = buf[..., :start, :]
                entry[name] = buf = grown
            buf[..., start:end, :] = t
            out.append(buf[..., :end, :])
        return out


def sample_next(logits, temperature, top_k, generator):
    """logits [B, V] -> next ids [B, 1]. generator: one torch.Generator, or a list of one per row, so that
    each row draws from its own stream and a seed's continuation does not depend on its batch.
    With top_k the draw is among the top k only: the same distribution as masking the rest with -inf,
    but torch.multinomial then draws k random numbers per row instead of one per vocabulary entry,
    which at batch 100 and a vocabulary of 50K took about as long as the model's step."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    ids = None
    if top_k is not None:
        logits, ids = torch.topk(logits, min(top_k, logits.size(-1)))
    probs = F.softmax(logits.float() / temperature, dim=-1)
    if isinstance(generator, (list, tuple)):
        choice = torch.cat([torch.multinomial(p[None], 1, generator=g) for p, g in zip(probs, generator)])
    else:
        choice = torch.multinomial(probs, num_samples=1, generator=generator)
    return choice if ids is None else ids.gather(1, choice)


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, memory=None, generator=None, use_cache=True):
    """
    idx: [B, T] prompt ids -> [B, T + max_new_tokens]. With use_cache, a KV cache: in exact memory mode
    (memory.mode == 'exact', the paper's) every step still re-selects with the newest token's attention,
    and recomputes, from the first memory layer on, the rows from the first position whose selection changed
    (in any row of the batch): the same result as recomputing everything. In cached mode each new token uses the memory for
    its own output only. use_cache=False recomputes everything, as the paper did.
    """
    block_size = model.config.block_size
    capacity = min(idx.shape[1] + max_new_tokens, block_size)  # all the positions the cache will hold
    new_cache = lambda: KVCache(capacity) if use_cache else None
    cache = new_cache()
    memory = with_chunks(model, idx, memory)
    x = idx
    for _ in range(max_new_tokens):
        if cache is None or cache.length + x.shape[1] > block_size:  # no cache, or the context is full
            cache, x = new_cache(), idx[:, -block_size:]
        logits = model(x, memory=memory, cache=cache, last_only=True)[:, -1, :]
        x = sample_next(logits, temperature, top_k, generator)
        idx = torch.cat((idx, x), dim=1)
    return idx

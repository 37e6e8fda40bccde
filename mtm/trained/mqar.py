"""
MQAR with filler: multi-query associative recall (Zoology, Arora et al. 2023) with every query a fixed distance past
its pair, the gap filled with random filler tokens: a recall task past the attention window, for models trained
from scratch on it (issue 17). The exact rules: docs/mqar.md. Pure numpy/torch: no model, no tokenizer.

    ids, targets = example("test", 0, pairs=16, distance=512)      # [L] each; targets -1 except at the answers
    ids, targets = batch("train", range(32), pairs=16, distance=512)  # [32, L] each
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets[:, 1:].flatten(), ignore_index=-1)

The splits are streams of one generator seeded by (split, index): an example is the same on every machine and
run, and no two splits share a seed.
"""
import numpy as np
import torch

BOS = 0
FILLER = 16  # filler token ids 1 .. 16, drawn uniformly: noise the model must learn to ignore
KEYS = 64    # key ids 17 .. 80, the pairs' keys distinct within an example
VALUES = 64  # value ids 81 .. 144, drawn with repeats: chance is 1/64
VOCAB = 1 + FILLER + KEYS + VALUES
SPLITS = ("train", "val", "test")
SLACK = 10  # positions per pair where pairs (and, distance later, queries) may start: room to scatter them


def span(distance):
    """A distance as (shortest, longest): an int d is (d, d); [lo, hi] gives each pair its own distance lo..hi."""
    lo, hi = (distance, distance) if isinstance(distance, int) else tuple(distance)
    if not 2 <= lo <= hi:
        raise ValueError(f"distance must be an int >= 2 or [lo, hi] with 2 <= lo <= hi (got {distance!r})")
    return lo, hi


def length(pairs, distance):
    """Tokens in an example: BOS, then room for the pairs, then the distance, then the last query's two tokens."""
    return 1 + SLACK * pairs + span(distance)[1] + 2


def example(split, index, pairs, distance):
    """
    Example `index` of `split`: `pairs` key-value pairs (k, v), each written as the two tokens k v at a position p,
    and queried by the same two tokens at p + distance (distance [lo, hi]: each pair's own, drawn uniformly from
    lo..hi, so that no fixed offset finds the pair); the answer is the query's v, predicted from its k. Pairs
    start at random positions of the first SLACK * pairs positions after BOS, such that no pair or query overlaps
    another; every other position is filler. Returns ids [L] (int64) and targets [L]: ids at the queries' values,
    -1 elsewhere (nothing else is scored: a pair's own value cannot be known when it is first seen).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    if not 1 <= pairs <= KEYS:
        raise ValueError(f"pairs must be 1..{KEYS} (got {pairs})")
    lo, hi = span(distance)
    rng = np.random.default_rng([SPLITS.index(split), index, pairs, lo] + ([] if lo == hi else [hi]))
    L = length(pairs, distance)
    ids = rng.integers(1, 1 + FILLER, L)
    ids[0] = BOS
    used = np.zeros(L, dtype=bool)
    used[0] = True
    starts, gaps = [], []
    for p in rng.permutation(np.arange(1, 1 + SLACK * pairs)):  # first fit in a random order
        d = lo if lo == hi else int(rng.integers(lo, hi + 1))
        slots = [p, p + 1, p + d, p + d + 1]
        if not used[slots].any():
            used[slots] = True
            starts.append(p)
            gaps.append(d)
            if len(starts) == pairs:
                break
    # always room: a placed pair blocks at most 9 starts (p, p +- 1, p +- d +- 1) when every d is the same; with
    # a range of distances more, but SLACK = 10 starts a pair has left room in every example tried (tests)
    assert len(starts) == pairs
    keys = 1 + FILLER + rng.permutation(KEYS)[:pairs]
    values = 1 + FILLER + KEYS + rng.integers(0, VALUES, pairs)
    targets = np.full(L, -1)
    for p, d, k, v in zip(starts, gaps, keys, values):
        ids[[p, p + d]], ids[[p + 1, p + d + 1]] = k, v
        targets[p + d + 1] = v
    return torch.from_numpy(ids), torch.from_numpy(targets)


def batch(split, indices, pairs, distance):
    """Examples `indices` of `split`, stacked: ids and targets [B, L]."""
    ids, targets = zip(*(example(split, i, pairs, distance) for i in indices))
    return torch.stack(ids), torch.stack(targets)

"""MQAR with filler (mqar.py): its answers are right by construction, as a brute-force reader finds them; every
query sits exactly `distance` past its pair; the splits are fixed and disjoint."""
import pytest
import torch

from mtm.trained import mqar


def brute_force_answers(ids):
    """For each key's second occurrence, the token after its first occurrence, and how far back that was:
    {position of the answer: (answer, distance)}. Knows nothing of how examples are made beyond the id ranges."""
    keys = range(1 + mqar.FILLER, 1 + mqar.FILLER + mqar.KEYS)
    first, found = {}, {}
    for t, token in enumerate(ids.tolist()):
        if token in keys:
            if token in first:
                found[t + 1] = (int(ids[first[token] + 1]), t - first[token])
            else:
                first[token] = t
    return found


@pytest.mark.parametrize("pairs,distance", [(1, 2), (4, 3), (16, 32), (64, 20), (64, 512), (8, 2048)])
def test_a_brute_force_reader_finds_every_answer_at_the_distance(pairs, distance):
    for index in range(5):
        ids, targets = mqar.example("test", index, pairs, distance)
        assert ids.shape == targets.shape == (mqar.length(pairs, distance),)
        assert ids[0] == mqar.BOS and ((ids >= 0) & (ids < mqar.VOCAB)).all()
        answers = brute_force_answers(ids)
        scored = (targets >= 0).nonzero().squeeze(1).tolist()
        assert sorted(answers) == scored and len(scored) == pairs
        for t in scored:
            assert answers[t] == (int(targets[t]), distance)
            assert 1 + mqar.FILLER + mqar.KEYS <= targets[t] < mqar.VOCAB  # a value
        others = torch.ones_like(ids, dtype=torch.bool)
        others[0] = False
        for t in scored:
            others[[t - 1, t, t - 1 - distance, t - distance]] = False
        assert ((ids[others] >= 1) & (ids[others] <= mqar.FILLER)).all()  # everything else is filler


@pytest.mark.parametrize("pairs,distance", [(16, [2, 15]), (64, [2, 15]), (4, [8, 512]), (64, [100, 140])])
def test_a_range_of_distances_gives_each_pair_its_own(pairs, distance):
    lo, hi = distance
    seen = set()
    for index in range(20):
        ids, targets = mqar.example("train", index, pairs, distance)
        assert ids.shape == (mqar.length(pairs, distance),) == (1 + 10 * pairs + hi + 2,)
        answers = brute_force_answers(ids)
        scored = (targets >= 0).nonzero().squeeze(1).tolist()
        assert sorted(answers) == scored and len(scored) == pairs
        for t in scored:
            value, d = answers[t]
            assert value == int(targets[t]) and lo <= d <= hi
            seen.add(d)
    assert max(seen) - min(seen) > (hi - lo) // 2  # the distances vary, over most of the range


def test_examples_are_fixed_and_the_splits_differ():
    a, _ = mqar.example("train", 3, 16, 128)
    assert torch.equal(a, mqar.example("train", 3, 16, 128)[0])
    assert not torch.equal(a, mqar.example("train", 4, 16, 128)[0])
    assert not torch.equal(a, mqar.example("test", 3, 16, 128)[0])
    assert not torch.equal(a, mqar.example("val", 3, 16, 128)[0])
    ids, targets = mqar.batch("val", range(7), 16, 128)
    assert ids.shape == targets.shape == (7, mqar.length(16, 128))
    assert torch.equal(ids[2], mqar.example("val", 2, 16, 128)[0])


def test_bad_settings_get_one_line():
    with pytest.raises(ValueError, match="split must be one of"):
        mqar.example("dev", 0, 4, 32)
    with pytest.raises(ValueError, match="distance must be"):
        mqar.example("test", 0, 4, [16, 8])
    with pytest.raises(ValueError, match="pairs must be"):
        mqar.example("test", 0, mqar.KEYS + 1, 32)

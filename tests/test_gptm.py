"""gptm.py, seed 003's memory matrix: the write against its loop reference, the count sketch's shape, forward and
backward on tiny shapes, causal, and the memory carrying something from block to block."""
import torch

from mtm.trained.gptm import GPTm, count_sketch, write
from reference import reference_gptm_write


def test_the_write_matches_the_loop_reference():
    torch.manual_seed(0)
    M, c = torch.randn(3, 7, 5), torch.randn(3, 5)
    new = write(M, c)
    for b in range(3):
        torch.testing.assert_close(new[b].double(), reference_gptm_write(M[b], c[b]), atol=1e-5, rtol=1e-5)


def test_the_count_sketch_has_one_signed_one_per_column():
    S = count_sketch(rows=50, sketch=6)
    assert S.shape == (6, 50)
    assert ((S != 0).sum(0) == 1).all() and set(S[S != 0].tolist()) <= {-1.0, 1.0}
    assert (S != 0).any(1).sum() > 3  # columns spread over the sketch's rows


def tiny(**kw):
    torch.manual_seed(0)
    return GPTm(vocab=20, n_layer=2, n_head=2, n_embd=16, window=4, max_len=24, rows=12, sketch=3, bptt=2, **kw)


def test_forward_backward_causal_and_the_memory_carries_across_blocks():
    for learned in (False, True):
        model = tiny(learned_sketch=learned)
        ids = torch.randint(0, 20, (2, 24))
        logits = model(ids)
        assert logits.shape == (2, 24, 20)
        logits[:, -1].logsumexp(-1).sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        assert (model.sketch.grad is not None) == learned
        with torch.no_grad():
            changed = ids.clone()
            changed[:, 13:] = (changed[:, 13:] + 1) % 20
            torch.testing.assert_close(model(changed)[:, :13], model(ids)[:, :13])  # later tokens change nothing
            earlier = ids.clone()
            earlier[:, :4] = (earlier[:, :4] + 1) % 20  # the first block only: outside every later block
            assert (model(earlier)[:, 20:] - model(ids)[:, 20:]).abs().max() > 1e-4  # yet it reaches the last

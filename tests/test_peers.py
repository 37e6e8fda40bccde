"""peers.py, lucidrains' trained memories behind train.py's interface: forward and backward on tiny shapes, causal
(a later token changes no earlier logit), a memory per sequence (a row's logits do not depend on its batch), and
the templates' budget: parameters within 10 % of the GPT's."""
from pathlib import Path

import pytest
import torch

from mtm.trained import mqar
from mtm.trained.peers import PEERS, peer
from configurator import template

REPO = Path(__file__).resolve().parents[1]
TINY = dict(vocab=mqar.VOCAB, n_layer=2, n_head=2, n_embd=16, window=4, max_len=24)


@pytest.mark.parametrize("name", PEERS)
def test_forward_backward_causal_and_per_sequence(name):
    torch.manual_seed(0)
    model = peer(name, **TINY)
    ids = torch.randint(1, mqar.VOCAB, (3, 24))
    logits = model(ids)
    assert logits.shape == (3, 24, mqar.VOCAB)
    logits[:, -1].logsumexp(-1).sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    with torch.no_grad():
        changed = ids.clone()
        changed[:, 17:] = (changed[:, 17:] % (mqar.VOCAB - 1)) + 1
        torch.testing.assert_close(model(changed)[:, :17], model(ids)[:, :17], atol=1e-5, rtol=1e-5)
        assert (model(changed)[:, 17:] - model(ids)[:, 17:]).abs().max() > 1e-4
        torch.testing.assert_close(model(ids[1:2]), model(ids)[1:2], atol=1e-5, rtol=1e-5)


def test_the_templates_give_every_memory_the_gpts_parameters_within_10_percent():
    import train
    counts = {}
    for name in ("full", "window_mtm", "block_recurrent", "memorizing", "gptm", "gptm_learned"):
        settings = vars(train) | template(REPO / "config" / "train" / f"train_{name}.py")
        block = max(mqar.length(p, d) for p, d in settings["tasks"])
        counts[name] = sum(p.numel() for p in train.build(train.model_config(settings, block)).parameters())
    assert all(abs(n / counts["full"] - 1) <= 0.10 for n in counts.values()), counts

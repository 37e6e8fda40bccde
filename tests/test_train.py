"""train.py: a resumed run gives the loss curve of an uninterrupted one (same seed); its checkpoint is safetensors;
bad settings get one line. model.py's sliding window: a position's output depends on its last `window` inputs only."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model import GPT, GPTConfig

REPO = Path(__file__).resolve().parents[1]
TINY = ["--n_layer=1", "--n_head=2", "--n_embd=16", "--batch_size=2", "--tasks=[[2, 8]]", "--eval_interval=3",
        "--eval_iters=1", "--log_interval=1", "--warmup_iters=2", "--lr_decay_iters=6"]


def train(*args):
    return subprocess.run([sys.executable, "train.py", *TINY, *args], cwd=REPO, capture_output=True, text=True)


def losses(out_dir):
    rows = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
    return {r["iter"]: r["loss"] for r in rows if "loss" in r}


def test_a_resumed_run_gives_the_same_loss_curve(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert train(f"--out_dir={whole}", "--max_iters=6").returncode == 0
    assert train(f"--out_dir={parts}", "--max_iters=3").returncode == 0
    r = train(f"--out_dir={parts}", "--max_iters=6", "--init_from=resume")
    assert r.returncode == 0, r.stderr
    a, b = losses(whole), losses(parts)
    assert sorted(a) == sorted(b) == list(range(6))
    assert all(abs(a[i] - b[i]) < 1e-6 for i in a), (a, b)
    assert len(set(a.values())) > 1  # it trained
    assert (parts / "ckpt.safetensors").read_bytes()[8:9] == b"{"  # safetensors: a JSON header, no pickle


def test_bad_train_settings_get_one_line(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ckpt.safetensors").write_bytes(b"not a checkpoint")
    for args, words in [(["--init_from=resume", f"--out_dir={tmp_path / 'bad'}"], "is not a checkpoint"),
                        (["--init_from=resume", f"--out_dir={tmp_path / 'none'}"], "does not exist"),
                        (["--init_from=gpt2"], "init_from"), (["--tasks=[[2]]"], "tasks must be")]:
        r = train(*args)
        assert r.returncode == 1 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_a_sliding_window_sees_only_its_last_positions():
    torch.manual_seed(0)
    W, T = 4, 12
    model = GPT(GPTConfig(block_size=T, vocab_size=20, n_layer=1, n_head=2, n_embd=16, window=W)).eval()
    full = GPT(GPTConfig(block_size=T, vocab_size=20, n_layer=1, n_head=2, n_embd=16)).eval()
    full.load_state_dict(model.state_dict())
    ids = torch.randint(0, 20, (1, T))
    with torch.no_grad():
        base = model(ids)
        for t in range(T):  # change one input at a time: only the outputs of positions t .. t + W - 1 move
            changed = ids.clone()
            changed[0, t] = (changed[0, t] + 1) % 20
            moved = (model(changed) - base).abs().amax(-1)[0] > 1e-6
            assert moved.tolist() == [t <= i < t + W for i in range(T)], t
        assert torch.allclose(model(ids[:, :W]), full(ids[:, :W]), atol=1e-6)  # within the window: full attention
        assert not torch.allclose(model(ids), full(ids), atol=1e-3)


@pytest.mark.parametrize("architecture", ["gpt", "window_mtm", "block_recurrent", "memorizing", "gptm"])
def test_every_architecture_trains_and_its_checkpoint_gives_back_the_model(tmp_path, architecture):
    from mtm.trained import mqar
    from train import trained_model
    r = train(f"--out_dir={tmp_path}", "--max_iters=3", f"--architecture={architecture}", "--window=4",
              "--n_head=2", "--memory_rows=8", "--sketch_rows=2")
    assert r.returncode == 0, r.stderr
    model, meta = trained_model(tmp_path)
    assert meta["iter_num"] == 3 and meta["model"].get("architecture", "gpt") == architecture
    ids, targets = mqar.batch("test", range(2), 2, 8)  # the test batch train.py scored at the end (batch_size 2)
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert "train_seconds" in rows[-1]
    with torch.no_grad():
        logits = model(ids[:, :-1])
    scored = targets[:, 1:] >= 0
    loss = torch.nn.functional.cross_entropy(logits[scored], targets[:, 1:][scored])
    assert abs(float(loss) - rows[-1]["test"]["2x8"]["loss"]) < 1e-5  # every weight came back (tied ones too)


def test_batch_tokens_sizes_each_tasks_batch_by_its_length(monkeypatch):
    import train
    monkeypatch.setattr(train, "batch_tokens", 1000)
    # an example of 16 pairs at distance 32: BOS, 10 positions a pair, the distance, the last query's 2 tokens
    assert train.examples_per_batch(16, 32) == 1000 // (1 + 160 + 32 + 2)
    assert train.examples_per_batch(64, 512) == 1  # longer than batch_tokens: one example
    ids, _ = train.get_batch("train", 0, 4, [2, 15])
    assert ids.shape == (1000 // (1 + 40 + 15 + 2), 1 + 40 + 15 + 2)
    monkeypatch.setattr(train, "batch_tokens", 0)
    assert train.examples_per_batch(16, 32) == train.batch_size

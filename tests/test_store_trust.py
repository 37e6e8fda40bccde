"""A store from a stranger (issue 37, first cases): whoever changed its files also recomputed their checksums, so
the checks that hold are those of what the files claim. Each case: one `MemoryStoreError` line, nothing read."""
import hashlib
import json
import os
import shutil
import stat

import pytest

from mtm.storage.disk import BLOCK, MANIFEST, build_on_disk, load_store
from mtm.storage.store import MemoryStoreError


@pytest.fixture
def store_dir(gpt2, tmp_path):
    model, tok = gpt2
    build_on_disk(tmp_path / "s", model, tok, ["Cats purr.", "The ferry leaves at noon."], [1], progress=False)
    return tmp_path / "s"


def segments(path):
    return json.loads((path / MANIFEST).read_text())["segments"]


def rewrite_header(path, change):
    """Apply change(header dict) to the first segment's safetensors header, then recompute every checksum over it:
    the blocks in the segment's JSON, that JSON's SHA-256 in the manifest."""
    name = segments(path)[-1]["name"]
    file = path / f"{name}.safetensors"
    data = file.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    change(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    data = len(text).to_bytes(8, "little") + text + data[8 + n:]
    file.write_bytes(data)
    side_file = path / f"{name}.json"
    side = json.loads(side_file.read_text())
    side.update(size=len(data), blocks=[hashlib.sha256(data[i:i + BLOCK]).hexdigest()[:32]
                                        for i in range(0, len(data), BLOCK)])
    side_file.write_text(json.dumps(side))
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["segments"][-1]["json_sha256"] = hashlib.sha256(side_file.read_bytes()).hexdigest()
    (path / MANIFEST).write_text(json.dumps(manifest))


def one_line(path, *words):
    with pytest.raises(MemoryStoreError) as e:
        store = load_store(path)
        store.layer(1)  # whatever is read lazily is read
    message = str(e.value)
    assert "\n" not in message and str(path) in message and all(w in message for w in words), message


def test_an_unknown_dtype_is_one_line(store_dir):
    rewrite_header(store_dir, lambda h: h[next(k for k in h if k != "__metadata__")].update(dtype="F8_E4M3"))
    one_line(store_dir, "dtype 'F8_E4M3'")


def test_a_shape_its_bytes_do_not_hold_is_one_line(store_dir):
    def grow(h):
        info = h[next(k for k in h if k != "__metadata__")]
        info["shape"] = [info["shape"][0] * 4] + info["shape"][1:]
    rewrite_header(store_dir, grow)
    one_line(store_dir, "claims shape", "do not hold")


def test_offsets_outside_the_file_and_overlapping_tensors_are_one_line(store_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(store_dir, copy)
    rewrite_header(store_dir, lambda h: h[next(k for k in h if k != "__metadata__")].update(
        data_offsets=[0, 10 ** 9], shape=[10 ** 9 // 4]))
    one_line(store_dir, "outside its")

    def overlap(h):
        a, b = [k for k in h if k != "__metadata__"][:2]
        h[b] = dict(h[a])
    rewrite_header(copy, overlap)
    one_line(copy, "over the same bytes")


def test_a_segment_name_that_leaves_the_directory_is_refused(store_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    name = segments(store_dir)[-1]["name"]
    for suffix in (".json", ".safetensors"):
        shutil.copy(store_dir / f"{name}{suffix}", elsewhere / f"{name}{suffix}")
    manifest = json.loads((store_dir / MANIFEST).read_text())
    manifest["segments"][-1]["name"] = f"../elsewhere/{name}"
    (store_dir / MANIFEST).write_text(json.dumps(manifest))
    one_line(store_dir, "not a file name in the store's directory")


def test_every_file_of_a_store_has_the_mode_of_the_users_umask(gpt2, tmp_path):
    model, tok = gpt2
    old = os.umask(0o027)
    try:
        build_on_disk(tmp_path / "s", model, tok, ["Cats purr."], [1], progress=False)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "s").iterdir() if p.name != ".lock"}
    assert len(modes) >= 3 and set(modes.values()) == {0o640}, modes

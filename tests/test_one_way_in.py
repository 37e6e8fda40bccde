"""One way in: memories open through mtm.entry.open_memory; a store built from the template that reads it (or from
the model's facts alone) answers as the same text read on the fly; a store whose bookkeeping token differs from the
reader's is refused with one line; the README's set-up and test lines are what CI runs."""
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO
from mtm.entry import open_memory
from mtm.loading import facts_of_model, model_facts
from mtm.method.settings import MemorySettings, with_facts
from mtm.storage.store import MemoryStoreError


def test_family_facts_come_from_the_registry(gemma_dir, gpt2_dir, gemma, gpt2):
    assert model_facts("gemma3") == dict(bookkeeping_token="<bos>", chunk_layers=[5], chunk_heads=[1, 2, 3])
    assert model_facts("smollm2") == dict(bookkeeping_token="\n", chunk_layers=[17], chunk_heads=[3, 4, 5])
    assert model_facts(str(gemma_dir))["bookkeeping_token"] == "<bos>"  # a local directory: its config's family
    assert model_facts(str(gpt2_dir)) == dict(bookkeeping_token="\n")
    assert facts_of_model(gemma[0])["bookkeeping_token"] == "<bos>" and facts_of_model(gpt2[0])["bookkeeping_token"] == "\n"


def test_settings_left_none_take_the_models_facts_and_set_ones_stay():
    facts = model_facts("gemma3")
    assert with_facts(dict(chunk_layers=None, chunk_heads=None), facts)["chunk_heads"] == [1, 2, 3]
    mine = with_facts(dict(chunk_layers=[4], chunk_heads=None, bookkeeping_token=""), facts)
    assert mine == dict(chunk_layers=[4], chunk_heads=None, bookkeeping_token="")  # another layer: all its heads


def test_open_memory_reads_after_the_models_token_and_refuses_another(gemma, tmp_path):
    model, tok = gemma
    settings = MemorySettings([0, 5, 0, 0, 0, 0]).check()
    memory = open_memory(model, tok, settings, texts="Cats purr.")
    assert memory.store.meta["bookkeeping_token"] == "<bos>" and memory.settings.bookkeeping_token == "<bos>"
    other = open_memory(model, tok, MemorySettings([0, 5, 0, 0, 0, 0], bookkeeping_token="\n").check(),
                        texts="Cats purr.")
    with pytest.raises(MemoryStoreError, match=r"read after bookkeeping_token '\\n', these settings read after "
                                               r"'<bos>'"):
        open_memory(model, tok, settings, store=other.store)


def run(*args, cwd=REPO):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env=dict(os.environ, PYTHONHASHSEED="0"))


def section(stdout, title):
    return stdout.split("=== " + title)[1].split("\n", 1)[1].split("-" * 40)[0]


@pytest.mark.slow
def test_a_store_built_from_the_template_answers_as_on_the_fly(gpt2_dir, tmp_path):
    """build_memory.py TEMPLATE takes sample.py's template (its other settings ignored) and keeps what it reads:
    chunk retrieval over one fact a line, every layer, float16 (kv_dtype 'auto' on both paths)."""
    facts = tmp_path / "facts.txt"
    facts.write_text("The ferry leaves at nine.\nCats purr when they are content.\nThe key is under the mat.\n")
    template = tmp_path / "sample_recall.py"
    template.write_text(f'init_from = "{gpt2_dir}"\nstart = "\\nThe key is under the"\nnum_samples = 2\n'
                        f'max_new_tokens = 8\nmemory = "FILE:{facts}"\none_text_per_line = True\n'
                        'knn_num = [1000] * 4\nretrieval = "attention"\nsearch = "query_ip"\nchunk_select = 1\n'
                        'chunk_layers = [2]\nmem_position = "query"\nmemory_mode = "cached"\nexplain = True\n')
    on_the_fly = run("sample.py", template)
    assert on_the_fly.returncode == 0, on_the_fly.stderr
    built = run("build_memory.py", template, f"--mem_store={tmp_path / 'store'}")
    assert built.returncode == 0, built.stderr
    assert "layers [0, 1, 2, 3]" in built.stdout and "float16" in built.stdout and "3 text(s)" in built.stdout
    from_store = run("sample.py", template, "--memory=", f"--mem_store={tmp_path / 'store'}")
    assert from_store.returncode == 0, from_store.stderr
    for seed in (1337, 1338):
        title = f"attention retrieval (1 chunks) method, layers [0, 1, 2, 3] | seed {seed}"
        assert section(from_store.stdout, title) == section(on_the_fly.stdout, title)
    assert on_the_fly.stdout.split("=== chunks chosen")[1] == from_store.stdout.split("=== chunks chosen")[1]
    typo = run("build_memory.py", template, "--mem_stor=x")
    assert typo.returncode == 1 and "unknown setting 'mem_stor'" in typo.stderr  # the command line is still checked
    other = run("build_memory.py", template, "--bookkeeping_token=' '", f"--mem_store={tmp_path / 'other'}")
    assert other.returncode == 0, other.stderr
    refused = run("sample.py", template, "--memory=", f"--mem_store={tmp_path / 'other'}")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert re.fullmatch(r"error: memory store was read after bookkeeping_token ' ', these settings read after "
                        r"'\\n': .*\n", refused.stderr), refused.stderr


def test_ci_installs_and_tests_as_the_readme_says():
    readme, ci = (REPO / "README.md").read_text(), (REPO / ".ci" / "run").read_text()
    setup = re.search(r"```sh\n(python3 -m venv .*)\n(pip install .*)\n", readme)
    assert setup and setup.group(1) in ci and setup.group(2) in ci
    test_line = ci.strip().splitlines()[-1]
    assert test_line == "ruff check && python -m pytest" and test_line in readme


@pytest.mark.slow
def test_the_readmes_python_recipe_runs_as_written():
    """The README's Python recipe, as written, on the embedded SmolLM2: the memory answers both questions."""
    block = (REPO / "README.md").read_text().split("### From Python")[1].split("```python\n")[1].split("```")[0]
    r = run("-c", block)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("The spare key") and "blue" in lines[0].split("->")[1], lines
    assert lines[1].startswith("The lighthouse keeper") and "Wilhelmina" in lines[1].split("->")[1], lines

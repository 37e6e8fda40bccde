"""Every wrong input to sample.py, build_memory.py and evaluate.py: exit status 1, one line starting `error:`, no
traceback; and concurrent appends to one store both land (the store's writer lock)."""
import contextlib
import io
import runpy
import subprocess
import sys

import pytest

from conftest import REPO


def run_script(script, args):
    """The script as `python script args` runs it (its __main__ block, sys.argv as given), in this process so the
    catalogue stays fast. Returns (exit code, stdout, the line it exited with). An uncaught exception (a traceback
    on the command line) propagates and fails the test."""
    argv, out = sys.argv, io.StringIO()
    sys.argv = [script] + args
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(REPO / script), run_name="__main__")
        return 0, out.getvalue(), ""
    except SystemExit as e:  # sys.exit("error: ...") prints that line and exits with status 1
        code = e.code if isinstance(e.code, int) or e.code is None else 1
        return code, out.getvalue(), "" if isinstance(e.code, int) or e.code is None else str(e.code)
    finally:
        sys.argv = argv


@pytest.fixture(scope="module")
def not_utf8(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "latin1.txt"
    path.write_bytes("Caf\xe9 au lait, cr\xe8me br\xfbl\xe9e.".encode("latin-1"))
    return str(path)


MEM = ["--memory=Cats purr.", "--knn_num=[0,5,0,0]"]
CATALOGUE = [  # (script, arguments, words the error line holds); the table first
    ("sample.py", ["--memory=FILE:{not_utf8}", "--knn_num=[0,5,0,0]"], "not UTF-8"),
    ("sample.py", ["--device=cuda"], "no CUDA device"),
    ("sample.py", ["--dtype=float8"], "dtype = 'float8'"),
    ("sample.py", ["--num_samples=0"], "num_samples = 0: must be >= 1"),
    ("sample.py", ["--num_samples=-3"], "num_samples = -3"),
    ("sample.py", ["--temperature=-1"], "temperature = -1.0: must be >= 0"),
    ("sample.py", ["--top_k=-5"], "top_k = -5"),
    ("sample.py", ["--max_new_tokens=-1"], "max_new_tokens = -1"),
    ("sample.py", ["--mem_frac=-1"], "mem_frac = -1.0"),
    ("sample.py", ["--bookkeeping_frac=2"], "bookkeeping_frac = 2.0: must be between 0 and 1"),
    ("sample.py", ["--resid_frac=2"], "resid_frac = 2.0"),
    ("evaluate.py", ["--num_seeds=0"], "num_seeds = 0: must be >= 1"),
    ("build_memory.py", ["--memory=FILE:{not_utf8}"], "not UTF-8"),
    # more of each script
    ("sample.py", ["--knn_softmax_influence=0"], "knn_softmax_influence = 0.0: must be > 0"),
    ("sample.py", ["--knn_num=[0,-1]"], "knn_num = [0, -1]"),
    ("sample.py", ["--memory_mode=fast"], "memory_mode = 'fast'"),
    ("sample.py", ["--retrieval=magic"], "retrieval = 'magic'"),
    ("sample.py", ["--search=cosine"], "search = 'cosine'"),
    ("sample.py", ["--chunk_by=paragraph"], "chunk_by = 'paragraph'"),
    ("sample.py", ["--mem_threshold=2"], "mem_threshold = 2.0"),
    ("sample.py", ["--device=tpu"], "device = 'tpu'"),
    ("sample.py", ["--device=cuda:7"], "device = 'cuda:7'"),
    ("sample.py", ["--start=FILE:/no/such/prompt.txt"], "no such file"),
    ("sample.py", ["--start="], "start is empty"),
    ("sample.py", ["--memory=Cats purr.", "--mem_store=stores/x"], "not both"),
    ("sample.py", ["--num_samples=two"], "num_samples must be int"),
    ("sample.py", ["--tempreature=0.5"], "unknown setting 'tempreature'"),
    ("sample.py", ["--retrieval=attention", "--search=key_l2", "--knn_num=[0,5,0,0]"], "set search to"),
    ("sample.py", ["--chunk_heads=[]"], "chunk_heads = []: must be None"),
    ("sample.py", ["--init_from="], "init_from = '': is empty"),
    ("sample.py", ["no_such_config.py"], "config file no_such_config.py not found"),
    ("build_memory.py", ["--memory="], "memory is empty"),
    ("build_memory.py", ["--memory=x", "--index=annoy"], "index = 'annoy'"),
    ("build_memory.py", ["--memory=x", "--layers=[-1]"], "layers = [-1]"),
    ("build_memory.py", ["--memory=x", "--dtype=int8"], "dtype = 'int8'"),
    ("build_memory.py", ["--memory=x", "--device=cuda"], "no CUDA device"),
    ("build_memory.py", ["--memory=x", "--kv=keys"], "kv = 'keys'"),
    ("build_memory.py", ["--memory=x", "--kv_dtype=int8"], "kv_dtype = 'int8'"),
    ("sample.py", ["--chunk_backend=qdrant"], "chunk_backend = 'qdrant'"),
    ("sample.py", ["--chunk_backend=lancedb", "--knn_num=[0,5,0,0]"], "chunk_backend='lancedb' scores chunks"),
    ("evaluate.py", ["--mode=facts", "--kv=keys"], "kv = 'keys'"),
    ("evaluate.py", ["--mode=vibes"], "mode = 'vibes'"),
    ("evaluate.py", ["--batch_size=0"], "batch_size = 0"),
    ("evaluate.py", ["--mode=facts", "--fact_counts=[0, 10]"], "fact_counts = [0, 10]"),
    ("evaluate.py", ["--mode=facts", "--sample_facts=-1"], "sample_facts = -1"),
    ("evaluate.py", ["--mode=facts", "--num_seeds=-1"], "num_seeds = -1: must be >= 0"),
    ("evaluate.py", ["--mode=facts", "--facts_split=nosuch", "--conditions=['question']"], "nosuch"),
    ("evaluate.py", ["--mode=passkey", "--passkey_lengths=[-5]"], "passkey_lengths = [-5]"),
    ("evaluate.py", ["--memory=FILE:{not_utf8}"], "not UTF-8"),
    ("evaluate.py", ["--knn_num=[5]", "--resid_frac=-0.5"], "resid_frac = -0.5"),
]


@pytest.mark.parametrize("script,args,words", CATALOGUE, ids=[f"{s}:{' '.join(a)}" for s, a, _ in CATALOGUE])
def test_bad_input_gets_one_error_line(script, args, words, not_utf8):
    code, _, line = run_script(script, [a.format(not_utf8=not_utf8) for a in args])
    assert code == 1 and line.startswith("error: ") and "\n" not in line, line
    assert words in line, line


def test_the_catalogue_is_long_enough():
    assert len(CATALOGUE) >= 30 and {s for s, _, _ in CATALOGUE} == {"sample.py", "build_memory.py", "evaluate.py"}


def test_bad_store_and_append_target_after_the_model_loads(gpt2_dir, tmp_path):
    code, _, line = run_script("sample.py", [f"--init_from={gpt2_dir}", "--mem_store=" + str(tmp_path / "none"),
                                             "--knn_num=[0,5,0,0]"])
    assert code == 1 and line.startswith("error: no memory store at"), line
    code, _, line = run_script("build_memory.py", [f"--init_from={gpt2_dir}", "--memory=x", "--append=True",
                                                   "--mem_store=" + str(tmp_path / "none")])
    assert code == 1 and line.startswith("error: no memory store at"), line


def test_a_prompt_longer_than_the_window_gets_a_note(gpt2_dir):
    code, out, _ = run_script("sample.py", [f"--init_from={gpt2_dir}", "--start=" + " ".join(["word"] * 80),
                                            "--max_new_tokens=2", "--show_vader=False"])  # the tiny model: 64
    assert code == 0 and "note: the prompt has 80 tokens, the model's window 64: its last 64 tokens are kept" in out


@pytest.mark.slow
@pytest.mark.parametrize("script,args", [("sample.py", ["--temperature=-1"]), ("build_memory.py", ["--memory="]),
                                         ("evaluate.py", ["--num_seeds=0"])])
def test_on_the_command_line(script, args):
    """A few of the catalogue in a real process: exit status 1, the one line on stderr, no traceback."""
    p = subprocess.run([sys.executable, script] + args, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and p.stderr.startswith("error: ") and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_two_appends_at_once_both_land(gpt2_dir, tmp_path):
    """Two build_memory.py --append processes on one store, started together: the lock makes the second wait for
    the first's save, then read the store it left; without the lock both read the old store and one text is lost."""
    from mtm.storage.disk import load_store
    store = str(tmp_path / "store")
    build = [sys.executable, "build_memory.py", f"--init_from={gpt2_dir}", "--layers=[1]", f"--mem_store={store}"]
    subprocess.run(build + ["--memory=first text."], cwd=REPO, check=True, capture_output=True, timeout=120)
    texts = []  # long enough that reading one takes longer than the two processes' start times differ
    for name in ("second", "third"):
        texts.append(tmp_path / name)
        texts[-1].write_text(f"{name} text. " + "More words of this text follow here. " * 3000)
    appends = [subprocess.Popen(build + [f"--memory=FILE:{t}", "--append=True"], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE) for t in texts]
    for p in appends:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()
    assert sorted(t.split(".")[0] for t in load_store(store).meta["texts"]) == ["first text", "second text",
                                                                               "third text"]

"""configurator.py, and sample.py / build_memory.py run as a user runs them."""
import os
import subprocess
import sys

import pytest

from configurator import ConfigError, configure, read_text, template
from conftest import REPO
from mtm.method.settings import MemorySettings, method_defaults, with_facts
from mtm.loading import model_facts


def defaults():
    return dict(init_from="gpt2", temperature=0.8, num_samples=1, knn_num=[], resid_only=False, mem_store="",
                start="\n")


def test_config_file_then_overrides(tmp_path):
    cfg = tmp_path / "c.py"
    cfg.write_text("temperature = 1\nknn_num = [0, 5]\n_helper = 3\nimport math\n")
    ns = defaults()
    configure(ns, [str(cfg), "--num_samples=3", "--init_from=gpt2-medium", "--resid_only=True", "--start=42"])
    assert ns["temperature"] == 1.0 and isinstance(ns["temperature"], float)
    assert ns["knn_num"] == [0, 5] and ns["num_samples"] == 3 and ns["init_from"] == "gpt2-medium"
    assert ns["resid_only"] is True and ns["start"] == "42"


@pytest.mark.parametrize("argv,words", [
    (["--temprature=0.5"], ["unknown setting 'temprature'"]),
    (["--num_samples=many"], ["num_samples must be int", "'many'"]),
    (["--temperature=[1]"], ["temperature must be float"]),
    (["--num_samples=True"], ["num_samples must be int"]),
    (["--knn_num=5"], ["knn_num must be list"]),
    (["--seed"], ["--key=value"]),
    (["missing_config.py"], ["not found"]),
])
def test_bad_settings_are_refused_with_one_line(argv, words):
    with pytest.raises(ConfigError) as e:
        configure(defaults(), argv)
    assert "\n" not in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_unknown_key_in_a_config_file(tmp_path):
    cfg = tmp_path / "c.py"
    cfg.write_text("mem_fraction = 5.0\n")
    ns = dict(defaults(), mem_frac=5.0)
    with pytest.raises(ConfigError, match=r"c.py: unknown setting 'mem_fraction' \(did you mean mem_frac"):
        configure(ns, [str(cfg)])


def test_file_text(tmp_path):
    (tmp_path / "m.txt").write_text("hello cats")
    assert read_text(f"FILE:{tmp_path / 'm.txt'}") == "hello cats"
    assert "Cats are" in read_text("FILE:data/cats.txt")  # repository-relative, from any directory
    with pytest.raises(ConfigError, match="no such file"):
        read_text("FILE:nope.txt")


# -----------------------------------------------------------------------------
# the scripts, end to end, in a subprocess

def run(*args, env=None, cwd=None):
    env = dict(os.environ, **(env or {}))
    args = [str(REPO / a) if a.endswith(".py") else a for a in args]  # scripts and configs, from any directory
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd or REPO,
                          timeout=300)


def section(stdout, title):
    """The text printed under the `=== title | seed ... ===` header."""
    part = stdout.split("=== " + title)[1]
    return part.split("\n", 1)[1].split("-" * 40)[0]


@pytest.mark.slow
def test_missing_gpt2_weights_is_one_line(tmp_path):
    r = run("sample.py", "config/sample_gpt2_type_3_method.py", env=dict(HF_HOME=str(tmp_path), HF_HUB_OFFLINE="1"))
    assert r.returncode == 1
    assert r.stderr.strip().startswith("error: the weights of 'gpt2' are not on this machine")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_sample_end_to_end_and_saved_store_gives_the_same_continuation(gpt2_dir, tmp_path):
    knn = "--knn_num=[0,5,5,0]"
    on_the_fly = run("sample.py", "config/sample_gpt2_type_3_method.py", f"--init_from={gpt2_dir}", knn,
                     "--max_new_tokens=15", "--explain=True")
    assert on_the_fly.returncode == 0, on_the_fly.stderr
    out = on_the_fly.stdout
    assert "=== unadulterated model (no memory) | seed 1337 ===" in out
    assert "=== Type 3 method (Table 1)" in out and "retrieval on the first step" in out
    with_memory = section(out, "Type 3 method")
    assert with_memory != section(out, "unadulterated model")

    store = tmp_path / "cats_store"
    built = run("build_memory.py", f"--init_from={gpt2_dir}", "--memory=FILE:data/cats.txt", "--layers=[1,2]",
                f"--mem_store={store}")
    assert built.returncode == 0, built.stderr
    assert "tokens stored per layer and head" in built.stdout and (store / "manifest.json").is_file()
    from_store = run("sample.py", "config/sample_gpt2_type_3_method.py", f"--init_from={gpt2_dir}", knn,
                     "--max_new_tokens=15", "--memory=", f"--mem_store={store}", cwd=tmp_path)
    assert from_store.returncode == 0, from_store.stderr
    assert section(from_store.stdout, "Type 3 method") == with_memory


@pytest.mark.slow
def test_scripts_report_bad_input_in_one_line(gpt2_dir, tmp_path):
    cases = [
        (["sample.py", "--temprature=1"], "unknown setting"),
        (["sample.py", f"--init_from={gpt2_dir}", f"--mem_store={tmp_path}"], "knn_num turns the method on in no layer"),
        (["sample.py", f"--init_from={gpt2_dir}", f"--mem_store={tmp_path}", "--knn_num=[0,5,0,0]"], "no memory store"),
        (["build_memory.py", f"--init_from={gpt2_dir}", "--memory=", "--layers=[1]", f"--mem_store={tmp_path / 's'}"],
         "memory is empty"),
    ]
    for args, words in cases:
        r = run(*args)
        assert r.returncode == 1 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


# every template under config/, its folders too (the *_setting.py files are shared settings: templates name them in
# `base`)
TEMPLATES = sorted(p for p in (REPO / "config").rglob("*.py") if not p.name.endswith("_setting.py"))


def script_of(template):
    """'train' for config/train/, 'evaluate' for a template that sets `mode`, itself or in one of its bases (what
    evaluate.py measures; sample.py has no such setting), else 'sample' (config/README.md)."""
    from configurator import template_updates
    if template.parent.name == "train":
        return "train"
    return "evaluate" if any("mode" in updates for _, updates in template_updates(template)) else "sample"


def test_templates_and_settings_are_found():
    import ast
    from pathlib import Path
    from configurator import template_updates
    settings = sorted((REPO / "config").rglob("*_setting.py"))
    assert len(TEMPLATES) > 30 and (REPO / "config" / "sample_gpt2_type_3_method.py") in TEMPLATES
    for p in TEMPLATES + settings:  # plain assignments: no imports, no exec (shared settings are named in `base`)
        assert all(isinstance(s, ast.Assign) for s in ast.parse(p.read_text()).body), f"{p}: plain assignments only"
    used = {Path(where).resolve() for t in TEMPLATES for where, _ in template_updates(t)}
    unused = [s.relative_to(REPO).as_posix() for s in settings if s.resolve() not in used]
    assert settings and not unused, f"every shared setting is a base of a template (directly or via another): {unused}"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.relative_to(REPO / "config").as_posix())
def test_every_template_loads_and_fits_its_model(path):
    import evaluate
    from mtm.trained import mqar
    import sample
    import train
    script = script_of(path)
    target = dict(evaluate=evaluate, train=train).get(script, sample)
    rel = path.relative_to(REPO).as_posix()
    assert path.name.startswith(dict(evaluate="eval_").get(script, script + "_")), "the name says the script"
    assert f"# python {script}.py {rel}" in path.read_text(), "the template says how to run it"
    if target is train:
        cfg = configure(dict(vars(train)), [str(path)])
        assert cfg["tasks"] and all(1 <= p <= mqar.KEYS and mqar.span(d)[0] >= 2 for p, d in cfg["tasks"])
        return
    if target is evaluate:
        task, cfg = evaluate.configured([str(path)])  # as evaluate.py reads it: the mode's settings, checked
    else:
        cfg = with_facts(configure(dict(vars(target)), [str(path)], more=method_defaults()),
                         model_facts(template(path).get("init_from", target.init_from)))
    n_layer = {"smollm2": 30, "gemma3": 18}.get(cfg["init_from"], 12)
    if target is evaluate and cfg["mode"] in ("facts", "passkey", "twohop"):
        settings = MemorySettings.of(cfg)  # checked
        assert len(cfg["knn_num"]) == n_layer and settings.chunk_layers and max(settings.store_layers) < n_layer
        if cfg["mode"] == "facts":
            from mtm.tasks import fact_data as facts
            assert facts.load_facts(cfg["facts_split"])
        if cfg["mode"] == "twohop":
            from mtm.tasks import twohop
            assert twohop.load_twohop(cfg["twohop_split"]) and settings.chunk_select * settings.chunk_hops == 2
    elif target is evaluate:
        points = task.points(cfg, n_layer)
        assert points and all(p["method"] is None or len(p["method"]["knn_num"]) == n_layer for p in points)
    elif cfg["memory"]:
        assert len(cfg["knn_num"]) == n_layer and any(cfg["knn_num"]) and read_text(cfg["memory"]).strip()

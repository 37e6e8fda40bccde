"""The layout: the top level holds the scripts, the library is one package whose folders are its layers, and
dependencies point one way (docs/EXTENDING.md); the model definitions import no FAISS; every method setting's
default is written once; no module outgrows one purpose."""
import ast
import re
import subprocess
import sys

from conftest import REPO

TOP = {"model", "memory", "sample", "build_memory", "evaluate", "configurator", "train", "bench"}
LAYERS = [  # a module may import only modules of its own layer or a lower one (dotted prefixes, longest first)
    {"configurator", "mtm.method.settings", "mtm.trained.mqar"},
    {"mtm.method.attention", "mtm.method.relevance"},
    {"mtm.method.chunks", "mtm.method.retrieval"},
    {"memory"},
    {"model", "mtm.families", "mtm.trained.peers", "mtm.trained.gptm"},
    {"mtm.generation", "mtm.trained.sliding"},
    {"mtm.embedded", "mtm.loading"},
    {"mtm.storage"},
    {"mtm.entry"},
    {"mtm.tasks"},
    {"sample", "build_memory", "evaluate", "bench", "mtm.bench", "train", "scripts", "dev", "data"},
]


def layer_of(module):
    """The layer of a dotted module name (its longest listed prefix), or None for a module not the project's."""
    for depth in range(module.count(".") + 1, 0, -1):
        prefix = ".".join(module.split(".")[:depth])
        for i, names in enumerate(LAYERS):
            if prefix in names:
                return i
    return None


def module_name(path):
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def project_imports(path):
    """The project's modules a file imports, anywhere in it (function-level imports too), as dotted names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if layer_of(m) is not None and (m.split(".")[0] in TOP | {"mtm"})}


def sources():
    return [p for p in REPO.rglob("*.py") if ".venv" not in p.parts and p.parts[len(REPO.parts)] not in
            ("config", "tests", "out")]


def test_the_top_level_holds_the_scripts_only():
    top = {p.stem for p in REPO.glob("*.py")}
    assert top <= TOP, f"modules beside the scripts: {sorted(top - TOP)} (the library lives in mtm/)"


def test_no_module_imports_a_layer_above_its_own():
    files = sources()
    assert len(files) > 30
    for path in files:
        me = layer_of(module_name(path))
        if me is None and path.name == "__init__.py":  # a package's docstring
            assert not project_imports(path), path
            continue
        assert me is not None, f"{path.relative_to(REPO)} has no layer"
        upward = sorted(m for m in project_imports(path) if layer_of(m) > me)
        assert not upward, f"{path.relative_to(REPO)} imports {upward}, above its layer"


def test_no_module_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in sources() + list((REPO / "tests").glob("*.py"))
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_the_model_definitions_import_no_faiss():
    code = ("import sys, model, mtm.families.llama, mtm.generation; "
            "print(sorted(m for m in ('faiss', 'mtm.storage.store') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_each_method_setting_has_its_default_in_one_place():
    from mtm.method.settings import SETTINGS
    code = {p: p.read_text() for p in sources()}
    for name in SETTINGS:  # a script's setting (a global) or a declared one (name=Setting(...))
        where = [str(p.relative_to(REPO)) for p, text in code.items()
                 if re.search(rf"^({name}\s*=|\s*{name}\s*=\s*Setting\()", text, re.M)]
        assert where == ["mtm/method/settings.py"], (name, where)


def test_scripts_tasks_and_benchmarks_open_memories_through_the_entry_point():
    """No hand-built Memory(...) outside memory.py, mtm/entry.py and the sliding window's memory, which fills
    inside the model's own forward (mtm/trained/sliding.py)."""
    allowed = {"memory.py", "mtm/entry.py", "mtm/trained/sliding.py"}
    built = [str(p.relative_to(REPO)) for p in sources() if re.search(r"(?<![\w.])Memory\(", p.read_text())]
    assert set(built) <= allowed, sorted(set(built) - allowed)

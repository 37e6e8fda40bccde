"""The layout: dependencies point one way (docs/EXTENDING.md), the model definitions import no FAISS, and every
method setting's default is written once."""
import ast
import re
import subprocess
import sys

from conftest import REPO

LAYERS = {  # module -> its layer; a module may import only modules of lower or equal layers
    "configurator": 0, "mqar": 0, "memory": 1, "model": 2, "llama": 2, "peers": 2, "gptm": 2, "generation": 3, "sliding": 3, "embedded": 4, "loading": 4,
    "knn": 5, "store": 5, "reading": 5, "disk": 5, "facts": 6, "tasks": 6, "sample": 7, "build_memory": 7, "evaluate": 7, "bench": 7, "train": 7,
}


def project_imports(path):
    """The project's modules a file imports, anywhere in it (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in LAYERS}
    return found


def test_no_module_imports_a_layer_above_its_own():
    files = [p for p in REPO.glob("*.py")] + list((REPO / "tasks").glob("*.py"))
    assert {p.stem for p in REPO.glob("*.py")} <= set(LAYERS), "every top-level module has a layer"
    for path in files:
        me = "tasks" if path.parent.name == "tasks" else path.stem
        upward = [m for m in project_imports(path) if LAYERS[m] > LAYERS[me]]
        assert not upward, f"{path.name} imports {upward}, above its layer"


def test_the_model_definitions_import_no_faiss():
    code = "import sys, model, llama, generation; print(sorted(m for m in ('faiss', 'store') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_each_method_setting_has_its_default_in_one_place():
    from memory import SETTINGS
    code = {p: p.read_text() for p in list(REPO.glob("*.py")) + list((REPO / "tasks").glob("*.py"))}
    for name in SETTINGS:
        where = [p.name for p, text in code.items() if re.search(rf"^\s*{name}\s*(=|:)", text, re.M)]
        assert where == ["memory.py"], (name, where)

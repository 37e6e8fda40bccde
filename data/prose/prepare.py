"""
Real prose for the fact benchmark's distractors (issue 19): paragraphs of English from the docstrings of Python's
standard library (PSF License Version 2, shipped with every Python), of mixed lengths, from a sentence to a long
paragraph (a third of the docstrings of several paragraphs kept whole, as one text), one text a line. Split by
module so that dev and test share no source: modules whose name hashes even go to dev, odd to test. Written once and kept in data/prose/ (other Python versions word their docstrings
differently; data/prose/README.md names the version used).

    python data/prose/prepare.py            # writes data/prose/dev.txt and data/prose/test.txt
"""
import hashlib
import importlib
import inspect
import pkgutil
import re
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parent
SKIP = ("test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "antigravity", "this", "__")
MIN_WORDS, MAX_WORDS = 6, 250  # a paragraph: a short sentence .. a long paragraph


def prose_paragraphs(doc):
    """The paragraphs of a docstring that read as prose: mostly words, ending with a full stop, no code or tables."""
    for block in re.split(r"\n\s*\n", inspect.cleandoc(doc)):
        lines = block.splitlines()
        if any(l.startswith((" ", ">>>", "-", "*", "|", "+", "=", ":")) or "::" in l for l in lines):
            continue  # indented code, doctests, lists, tables, reST directives
        text = " ".join(l.strip() for l in lines)
        words = text.split()
        letters = sum(c.isalpha() or c.isspace() for c in text) / max(1, len(text))
        if MIN_WORDS <= len(words) <= MAX_WORDS and letters > 0.9 and text[0].isupper() and text.endswith("."):
            yield text


def module_docs(name):
    """Docstrings of a module, its classes and their methods, and its functions, in source order, once each."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(name)
    except Exception:  # optional modules missing on this platform
        return []
    docs = [module.__doc__]
    for _, obj in inspect.getmembers(module):
        if getattr(obj, "__module__", None) != name:
            continue
        docs.append(obj.__doc__)
        if inspect.isclass(obj):
            docs += [getattr(m, "__doc__", None) for _, m in vars(obj).items() if callable(m)]
    return [d for d in docs if isinstance(d, str)]


def main():
    names = sorted({m.name for m in pkgutil.iter_modules() if m.module_finder.path.startswith(sys.base_prefix)
                    and "site-packages" not in m.module_finder.path and not m.name.startswith(SKIP)})
    split, seen = {"dev": [], "test": []}, set()
    for name in names:
        part = "dev" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "test"
        for doc in module_docs(name):
            texts = list(prose_paragraphs(doc))
            if len(texts) > 1 and hashlib.sha256(doc.encode()).digest()[0] % 3 == 0:
                texts = [" ".join(texts)]  # a third of the docstrings as one long text: the lengths of real notes
            for text in texts:
                if text not in seen:
                    seen.add(text)
                    split[part].append(text)
    OUT.mkdir(parents=True, exist_ok=True)
    for part, texts in split.items():
        (OUT / f"{part}.txt").write_text("\n".join(texts) + "\n")
        words = sorted(len(t.split()) for t in texts)
        print(f"{part}: {len(texts)} paragraphs, words per paragraph min {words[0]}, median {words[len(words) // 2]}, "
              f"max {words[-1]}; Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()

"""
Poor man's configurator (after nanoGPT), with checks. A script keeps its settings as globals at
the top, then calls

    configure(globals())

which goes through sys.argv: a bare argument is a config file (a template), executed, whose top-level names
override the settings; `--key=value` overrides one setting (value read as a Python literal, or
taken as a string). A name the script does not have, or a value of the wrong type, is refused
with one clear line (ConfigError) instead of being silently ignored.

A template may start from others: `base = "recall_setting.py"` (or a list of paths, relative to the template's
folder) applies those files first, in order, then the template's own names.
"""

import ast
import difflib
import sys
from collections import namedtuple
from pathlib import Path


class ConfigError(ValueError):
    pass


def check_value(key, value, default, where):
    """The value to use for `key`, or ConfigError if its type does not fit the default's."""
    if default is None or value is None:
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # `--temperature=1` means 1.0
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    if type(value) is not type(default):
        raise ConfigError(f"{where}: {key} must be {type(default).__name__} (like {default!r}), "
                          f"got {value!r} ({type(value).__name__})")
    return value


def settings_of(namespace):
    """The settings a script exposes: its plain-valued top-level globals."""
    plain = (int, float, bool, str, list, tuple, dict, type(None))
    return {k: v for k, v in namespace.items() if not k.startswith("_") and isinstance(v, plain)}


def template_updates(path, seen=()):
    """A template's settings, its bases' first: [(where, {name: value})]. A template is plain assignments."""
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: its bases lead back to it")
    loaded = {}
    try:
        exec(compile(path.read_text(), str(path), "exec"), loaded)
    except Exception as e:  # a template is the user's code: say where it broke, in one line
        raise ConfigError(f"{path}: {type(e).__name__}: {e}")
    own = {k: v for k, v in loaded.items() if not k.startswith("_") and not callable(v) and
           type(v).__name__ != "module"}
    bases = own.pop("base", [])
    if not isinstance(bases, (str, list)) or not all(isinstance(b, str) for b in ([bases] if isinstance(bases, str)
                                                                                  else bases)):
        raise ConfigError(f"{path}: base must be a path or a list of paths (relative to its folder)")
    out = []
    for b in [bases] if isinstance(bases, str) else bases:
        out += template_updates(path.parent / b, seen + (path.resolve(),))
    return out + [(str(path), own)]


def template(path):
    """A template's settings, its bases applied first: {name: value} (Python code that reads a template)."""
    merged = {}
    for _, updates in template_updates(Path(path)):
        merged.update(updates)
    return merged


def updates_of(argv):
    """Each argument's settings, in order: (where, {name: value}) for a config file (executed, its bases first) or a
    --key=value."""
    for arg in argv:
        if not arg.startswith("--"):
            yield from template_updates(Path(arg))
        else:
            key, eq, text = arg[2:].partition("=")
            if not eq:
                raise ConfigError(f"{arg}: write overrides as --key=value")
            try:
                value = ast.literal_eval(text)
            except (SyntaxError, ValueError):
                value = text  # a bare word is a string: --init_from=gpt2
            yield arg, {key: Typed(value, text)}


Typed = namedtuple("Typed", "value text")  # a --key=value override: the value as a Python literal, the text as typed


def peek(key, default, argv=None):
    """The value that argv (default sys.argv[1:]) gives one setting, before the rest is known: evaluate.py reads
    its mode first, since the mode says which settings there are."""
    value = default
    for _, updates in updates_of(sys.argv[1:] if argv is None else argv):
        if key in updates:
            value = updates[key].value if isinstance(updates[key], Typed) else updates[key]
    return value


def configure(namespace, argv=None, rules=None, more=None, others_in_templates=False):
    """Apply config files and --key=value overrides from argv (default sys.argv[1:]) to namespace, in order,
    then check every value (RULES, and rules: {setting: check}, which replace RULES' checks of those settings).
    more: {name: default} of settings beyond the namespace's (the method's): in the returned dict only.
    others_in_templates: a template's settings the script does not have are ignored (build_memory.py reads the
    templates of sample.py and evaluate.py); a --key=value override of one is still refused.
    Returns {setting: value} of every setting."""
    argv = sys.argv[1:] if argv is None else argv
    own = settings_of(namespace)
    known = dict(more or {}, **own)
    for where, updates in updates_of(argv):
        for key, value in updates.items():
            typed = isinstance(value, Typed)
            if typed:
                value, text = value
                if isinstance(known.get(key), str) and not isinstance(value, str):
                    value = text  # a string setting keeps the text as typed: --start=42
            if key not in known:
                if others_in_templates and not typed:
                    continue
                close = difflib.get_close_matches(key, known, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ConfigError(f"{where}: unknown setting '{key}'{hint}")
            known[key] = check_value(key, value, known[key], where)
            if key in own:
                namespace[key] = known[key]
    check_values(known, dict(RULES, **(rules or {})))
    return known


# -----------------------------------------------------------------------------
# the allowed values of every setting the scripts share, checked once, before any model is loaded

def _device_ok(value):
    import torch
    if value == "cpu":
        return None
    if value.startswith("cuda"):
        if not torch.cuda.is_available():
            return "this machine has no CUDA device (torch sees none): use --device=cpu"
        n = value.partition(":")[2]
        if n and (not n.isdigit() or int(n) >= torch.cuda.device_count()):
            return f"there is no {value}: this machine has cuda:0..cuda:{torch.cuda.device_count() - 1}"
        return None
    if value == "mps":
        return None if torch.backends.mps.is_available() else "this machine has no MPS device: use --device=cpu"
    return "must be 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _text_ok(value):
    read_text(value)  # FILE:path: raises ConfigError with one line if it cannot be read
    return None


# checks: value -> None (fine) or what is wrong with it. mtm.method.settings.SETTINGS declares the method's with them.

def ints_at_least(low):
    return lambda v: None if all(isinstance(x, int) and not isinstance(x, bool) and x >= low for x in v) else \
        f"must be a list of whole numbers >= {low}"


def nonempty_ints():
    return lambda v: None if v and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v) else \
        "must be None (all) or a non-empty list of whole numbers >= 0"


def number():
    return lambda v: None if isinstance(v, (int, float)) and not isinstance(v, bool) else "must be a number or None"


def one_of(*allowed):
    return lambda v: None if v in allowed else f"must be one of {', '.join(map(repr, allowed))}"


def at_least(low, strict=False):
    return lambda v: None if (v > low if strict else v >= low) else f"must be {'>' if strict else '>='} {low}"


def between(low, high):
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


RULES = {  # the scripts' own settings (the method's: mtm.method.settings.SETTINGS, checked by MemorySettings.check)
    "num_samples": at_least(1), "max_new_tokens": at_least(1), "batch_size": at_least(1),
    "num_seeds": at_least(1), "temperature": at_least(0), "top_k": at_least(0), "knn": at_least(0),
    "layers": ints_at_least(0), "device": _device_ok, "dtype": one_of("float32", "bfloat16", "float16"),
    "index": one_of("flat", "ivf", "hnsw"), "kv_dtype": one_of("auto", "float32", "float16", "bfloat16"),
    "kv": one_of("stored", "recompute"), "init_from": lambda v: None if v else "is empty",
    "start": _text_ok, "memory": _text_ok,
}


def check_values(values, checks, error=ConfigError):
    """error, one line, for the first value whose check (value -> None, or what is wrong with it) finds a problem."""
    for key, value in values.items():
        problem = checks[key](value) if checks.get(key) is not None and value is not None else None
        if problem:
            raise error(f"{key} = {value!r}: {problem}")


def read_text(value):
    """Settings that hold text accept FILE:path to read it from a file (relative to the current
    directory, or else to this repository, so the templates' data/ paths work from anywhere)."""
    if isinstance(value, str) and value.startswith("FILE:"):
        path = Path(value[5:])
        if not path.is_file() and not path.is_absolute():
            path = Path(__file__).parent / path
        if not path.is_file():
            raise ConfigError(f"{value}: no such file")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{value}: not UTF-8 text (byte {e.start} cannot be read): give a text file")
        except OSError as e:
            raise ConfigError(f"{value}: cannot be read ({e.strerror})")
    return value

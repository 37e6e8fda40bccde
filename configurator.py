"""
Poor man's configurator (after nanoGPT), with checks. A script keeps its settings as globals at
the top, then calls

    configure(globals())

which goes through sys.argv: a bare argument is a config file, executed, whose top-level names
override the settings; `--key=value` overrides one setting (value read as a Python literal, or
taken as a string). A name the script does not have, or a value of the wrong type, is refused
with one clear line (ConfigError) instead of being silently ignored.
"""

import ast
import difflib
import sys
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


def configure(namespace, argv=None):
    """Apply config files and --key=value overrides from argv (default sys.argv[1:]) to namespace, in order."""
    argv = sys.argv[1:] if argv is None else argv
    known = settings_of(namespace)
    for arg in argv:
        if not arg.startswith("--"):
            path = Path(arg)
            if not path.is_file():
                raise ConfigError(f"config file {arg} not found")
            loaded = {}
            exec(compile(path.read_text(), str(path), "exec"), loaded)
            updates = {k: v for k, v in loaded.items() if not k.startswith("_") and not callable(v)
                       and type(v).__name__ != "module"}
            where = str(path)
        else:
            key, eq, text = arg[2:].partition("=")
            if not eq:
                raise ConfigError(f"{arg}: write overrides as --key=value")
            try:
                value = ast.literal_eval(text)
            except (SyntaxError, ValueError):
                value = text  # a bare word is a string: --init_from=gpt2
            if isinstance(known.get(key), str) and not isinstance(value, str):
                value = text  # a string setting keeps the text as typed: --start=42
            updates, where = {key: value}, arg
        for key, value in updates.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ConfigError(f"{where}: unknown setting '{key}'{hint}")
            namespace[key] = known[key] = check_value(key, value, known[key], where)
    return known


def read_text(value):
    """Settings that hold text accept FILE:path to read it from a file (relative to the current
    directory, or else to this repository, so the templates' data/ paths work from anywhere)."""
    if isinstance(value, str) and value.startswith("FILE:"):
        path = Path(value[5:])
        if not path.is_file() and not path.is_absolute():
            path = Path(__file__).parent / path
        if not path.is_file():
            raise ConfigError(f"{value}: no such file")
        return path.read_text(encoding="utf-8")
    return value

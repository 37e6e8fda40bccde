"""
Run every template's first point, shrunk (one seed, two new tokens, one fact, one passkey trial): each one loads,
fits its model and runs. GPT-2 templates run on a random GPT-2-small (bench.py's, written once to out/bench-gpt2),
since GPT-2's weights cannot be had offline. Prints one line a template and a closing count.

    python scripts/run_templates.py                  # every template (about 20 minutes on 2 cores)
    python scripts/run_templates.py smollm2/         # those whose path holds this
"""
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def shrink(path, gpt2):
    """The command line that runs the template's first point only, small."""
    import evaluate
    import sample
    from configurator import configure
    from mtm.method.settings import method_defaults
    rel = path.relative_to(REPO)
    if path.name.startswith("eval_"):
        task, cfg = evaluate.configured([str(path)])
        args = ["evaluate.py", str(rel), "--num_seeds=1", "--max_new_tokens=2", f"--out_dir=out/templates/{rel.stem}"]
        if cfg["sweep_key"]:
            args.append(f"--sweep_values={cfg['sweep_values'][:1]!r}")
        if cfg["mode"] == "facts":
            args += ["--num_facts=1", f"--fact_counts={cfg['fact_counts'][:1]}", "--sample_facts=1", "--plain_text="]
        if cfg["mode"] == "passkey":
            args += [f"--passkey_lengths={cfg['passkey_lengths'][:1]}", "--passkey_trials=1"]
        if cfg["mode"] in ("sentiment", "recall"):
            args.append("--substitutes=[]" if cfg["mode"] == "recall" and cfg["substitutes"] else "--batch_size=1")
    else:
        cfg = configure(dict(vars(sample)), [str(path)], more=method_defaults())
        args = ["sample.py", str(rel), "--num_samples=1", "--max_new_tokens=2"]
    if cfg["init_from"].startswith("gpt2"):
        args.append(f"--init_from={gpt2}")
    return args


def main():
    import bench
    gpt2 = bench.make_gpt2(REPO / "out" / "bench-gpt2")
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    paths = sorted(p for p in (REPO / "config").rglob("*.py") if not p.name.endswith("_setting.py")
                   and which in str(p.relative_to(REPO / "config")))
    failed = 0
    for path in paths:
        args = shrink(path, gpt2)
        t = time.perf_counter()
        r = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True)
        failed += r.returncode != 0
        last = (r.stderr.strip().splitlines() or [""])[-1] if r.returncode else "ok"
        print(f"{'ok  ' if r.returncode == 0 else 'FAIL'} {time.perf_counter() - t:6.1f} s  "
              f"{path.relative_to(REPO)}  {'' if r.returncode == 0 else last}", flush=True)
    print(f"{len(paths) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

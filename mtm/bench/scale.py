"""bench.py's part 'scale': a memory that grows, measured by scripts/scale.py (its one home) in its own process;
its stores under out/scale/ are built once and kept."""
import json
import subprocess
import sys

from mtm.bench.common import REPO


def run(cfg):
    """Runs scripts/scale.py for cfg's scale_models, scale_fact_counts and scale_kv and prints its table."""
    print("scale", file=sys.stderr)
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "scale.py"),
                          f"--models={json.dumps(cfg['scale_models'])}",
                          f"--fact_counts={json.dumps(cfg['scale_fact_counts'])}", f"--kv={cfg['scale_kv']}"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"scripts/scale.py failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    print(f"\n### A memory that grows\n\n{out.stdout}")

"""
Where the chunk chooser picked the wrong text, was it read? For a facts run (runs.jsonl of `evaluate.py` mode facts,
e.g. config/<model>/eval_facts_scale.py), per n: the questions whose chosen text was not their fact's, their best
chunk scores against the recall setting's gate (chunk_min_score: below it, nothing is read), and how many questions
whose own text was chosen the gate turned away. Prints a markdown table.

    python dev/gate_misses.py out/facts_smollm2_scale_test/runs.jsonl config/smollm2/recall_setting.py
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from configurator import template  # noqa: E402


def main(runs, setting):
    gate = template(setting).get("chunk_min_score")
    if gate is None:
        sys.exit(f"{setting} has no gate (chunk_min_score is None: the relevance check decides): nothing to count")
    records = [json.loads(line) for line in Path(runs).read_text().splitlines()]
    records = [r for r in records if r["condition"] == "method" and "right_text" in r]
    print(f"{runs}, gate (chunk_min_score) {gate}\n")
    print("| n | questions | wrong text chosen | of those, below the gate | their scores | right text chosen, "
          "below the gate |")
    print("| ---: | ---: | ---: | ---: | --- | ---: |")
    for n in sorted({r["n"] for r in records}):
        rs = [r for r in records if r["n"] == n]
        wrong = [r["question_chunk_scores"][0] for r in rs if not r["right_text"]]
        right = [r["question_chunk_scores"][0] for r in rs if r["right_text"]]
        scores = f"{min(wrong):.2f}-{max(wrong):.2f}" if wrong else "-"
        print(f"| {n} | {len(rs)} | {len(wrong)} | {sum(s < gate for s in wrong)} | {scores} | "
              f"{sum(s < gate for s in right)} of {len(right)} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    main(*sys.argv[1:])

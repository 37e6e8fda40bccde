import csv
import json

import pytest

from mtm.tasks import twohop
from test_scripts import run


def test_the_twohop_set_needs_both_facts():
    """Each question names its person and not the town; the first fact links person and town, the second town and
    answer; no name is shared between dev and test."""
    splits = {s: twohop.load_twohop(s) for s in ("dev", "test")}
    for items in splits.values():
        assert len(items) >= 20
        for x in items:
            person = x["first"].split(" lives")[0].split(" moved")[0].split()[-2:]
            assert " ".join(person) in x["question"] and x["bridge"] not in x["question"]
            assert x["bridge"] in x["first"] and x["bridge"] in x["second"] and x["answer"] in x["second"]
            assert x["answer"] not in x["first"] + x["question"]
    words = {s: {w for x in items for w in (x["bridge"], x["answer"])} for s, items in splits.items()}
    assert not words["dev"] & words["test"]


@pytest.mark.slow
def test_twohop_mode_records_which_facts_the_method_read(gpt2_dir, tmp_path):
    split = tmp_path / "twohop.jsonl"
    items = [dict(kind="river", first=f"{p} lives in {t}.", second=f"The river {a} is in {t}.", bridge=t, answer=a,
                  question=f"\nThe river of the town where {p} lives is the") for p, t, a in
             [("Anna Quell", "Brask", "Ormel"), ("Tor Vimble", "Kesh", "Ullan"), ("Ida Pross", "Mirth", "Zenna")]]
    split.write_text("".join(json.dumps(x) + "\n" for x in items))
    args = ["evaluate.py", "--mode=twohop", f"--init_from={gpt2_dir}", f"--out_dir={tmp_path / 'out'}",
            f"--twohop_split={split}", "--num_seeds=2", "--max_new_tokens=3", "--knn_num=[0,1000,1000,0]",
            "--retrieval=attention", "--search=query_ip", "--chunk_select=2", "--chunk_layers=[2]"]
    r = run(*args)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in (tmp_path / "out" / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["condition"] for r in records) == ["in_context"] * 3 + ["method"] * 3 + ["question"] * 3
    for i, rec in enumerate(r for r in records if r["condition"] == "method"):
        # six texts (two per question), two chosen, all read (no gate, no check)
        assert len(set(rec["chosen"])) == 2 and all(0 <= t < 6 for t in rec["chosen"]) and rec["read"] == rec["chosen"]
        assert rec["first_read"] == (2 * i in rec["chosen"]) and rec["second_read"] == (2 * i + 1 in rec["chosen"])
    rows = {row["condition"]: row for row in csv.DictReader(open(tmp_path / "out" / "summary.csv"))}
    assert set(rows) == {"question", "in_context", "method"} and rows["method"]["both_read"] != ""
    assert (tmp_path / "out" / "twohop.png").stat().st_size > 0
    for change, message in [("--twohop_split=nosuch", "no two-hop file"), ("--chunk_select=0", "set chunk_select"),
                            ("--conditions=['bm25']", "conditions must be among")]:
        bad = run(*args, change)
        assert bad.returncode != 0 and message in bad.stderr and "Traceback" not in bad.stderr, bad.stderr

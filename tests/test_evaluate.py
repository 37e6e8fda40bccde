"""evaluate.py and the generation tasks (mtm/tasks/sentiment.py, mtm/tasks/recall.py): scores, sweep expansion, resume and
the output files."""
import csv
import json
import math

import pytest
import torch

import evaluate
from configurator import ConfigError
from mtm.method.settings import method_defaults
from mtm.tasks import recall, sentiment
from mtm.tasks.common import first_word_hit, layer_label
from test_scripts import run


def test_vader_and_distinct_and_recall_scores():
    assert sentiment.vader("I love my wonderful, happy cat!")["compound"] > 0.8
    assert sentiment.vader("Cats are horrible, cruel and disgusting.")["compound"] < -0.8
    assert sentiment.distinct_n([1, 2, 1, 2, 1, 2], 2) == pytest.approx(2 / 5)  # (1,2) and (2,1) among 5
    assert sentiment.distinct_n([1, 2, 3, 4], 3) == 1.0 and sentiment.distinct_n([7], 2) == 0.0
    assert first_word_hit(' "Vancouver, of course', "Vancouver")
    assert first_word_hit("\n Vancouver", "Vancouver")
    assert not first_word_hit(" the city of Vancouver", "Vancouver")


def test_perplexity_matches_a_direct_computation(gpt2, hf_gpt2):
    model, tok = gpt2
    ids = torch.tensor([tok.encode("\nCats are horrible and dogs are nice to me")] * 2)
    ppl = sentiment.perplexities(model, 3, ids)
    with torch.no_grad():
        logp = torch.log_softmax(hf_gpt2(ids).logits[0], dim=-1)
    nll = [-float(logp[t - 1, ids[0, t]]) for t in range(3, ids.shape[1])]
    assert ppl[0] == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-4)


def config(task=sentiment, **change):
    cfg = {k: v for k, v in vars(evaluate).items() if k in (
        "mode", "init_from", "start", "memory", "knn", "sweep_key", "sweep_values", "conditions", "max_new_tokens",
        "temperature", "top_k", "one_text_per_line")}
    return dict(cfg, **dict(method_defaults(), bookkeeping_token="\n"), **{name: s.default for name, s in
                                                                     task.SETTINGS.items()}) | change


def test_layer_labels():
    assert layer_label([0, 5, 5, 0, 5, 0, 3, 3, 3]) == "layers 1-2,4,6-8"


def test_layer_sweep_expansion():
    points = sentiment.points(config(knn_num=[0] * 12, sweep_key="layers", knn=3,
                                           sweep_values=["______789___", [9], "_" * 12]), 12)
    assert [p["name"] for p in points] == ["no memory", "layers 6-8", "layers 9", "layers none"]
    assert points[1]["method"]["knn_num"] == [0] * 6 + [3] * 3 + [0] * 3
    assert points[2]["method"]["knn_num"] == [0] * 9 + [3] + [0] * 2
    assert len({p["key"] for p in points}) == 4
    with pytest.raises(ConfigError, match="11 characters"):
        sentiment.points(config(sweep_key="layers", sweep_values=["_" * 11]), 12)
    with pytest.raises(ConfigError, match="layers 0..11"):
        sentiment.points(config(sweep_key="layers", sweep_values=[[12]]), 12)


def test_parameter_sweep_and_recall_expansion():
    points = sentiment.points(config(knn_num=[0, 5], baseline=False, sweep_key="mem_frac",
                                           sweep_values=[0.5, 5.0]), 2)
    assert [(p["name"], p["method"]["mem_frac"]) for p in points] == [("mem_frac=0.5", 0.5), ("mem_frac=5.0", 5.0)]
    ks = sentiment.points(config(knn_num=[0, 5], baseline=False, sweep_key="knn_num",
                                       sweep_values=[[0, 1, 1], [3, 0, 3], [1, 2, 0]]), 3)
    assert [(p["name"], p["method"]["knn_num"]) for p in ks] == [("k=1", [0, 1, 1]), ("k=3", [3, 0, 3]),
                                                                 ("knn_num=[1, 2, 0]", [1, 2, 0])]
    with pytest.raises(ConfigError, match="sweep_key"):
        sentiment.points(config(sweep_key="temperature", sweep_values=[1.0]), 2)
    points = recall.points(config(recall, knn_num=[0, 5], memory="Vancouver is big.",
                                           substitutes=["Toronto"]), 2)
    assert [p["name"] for p in points] == ["question only", "in context", "method", "in context [Vancouver->Toronto]",
                                           "method [Vancouver->Toronto]"]
    assert points[-1]["memory_text"] == "Toronto is big." and points[-1]["substitute"] == "Toronto"


@pytest.mark.slow
def test_outputs_and_resume(gpt2_dir, tmp_path):
    args = ["evaluate.py", f"--init_from={gpt2_dir}", f"--out_dir={tmp_path}", "--num_seeds=3", "--batch_size=2",
            "--max_new_tokens=6", "--knn_num=[0,5,5,0]", "--sweep_key=mem_frac", "--sweep_values=[1.0,5.0]"]
    first = run(*args)
    assert first.returncode == 0, first.stderr
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 3 * 3 and sorted({r["seed"] for r in runs}) == [1337, 1338, 1339]
    rows = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert [r["point"] for r in rows] == ["no memory", "mem_frac=1.0", "mem_frac=5.0"]
    for r in rows:  # the summary is computed from the runs
        c = sorted(x["scores"]["compound"] for x in runs if x["point"] == r["point"])
        assert float(r["compound_median"]) == pytest.approx(c[1])
    assert json.loads(rows[1]["touched_share"]).keys() == {"1", "2"}
    table = (tmp_path / "summary.md").read_text().splitlines()
    assert len(table) == 2 + 3 and table[2].startswith("| no memory | no_memory | 3 |")
    for png in ("sentiment.png", "touched_share.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run with one more point recomputes only that point
    again = run(*args[:-1], "--sweep_values=[1.0,5.0,10.0]")
    assert again.returncode == 0, again.stderr
    runs2 = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(runs2) == 4 * 3 and runs2[:9] == runs
    assert len(list(csv.DictReader(open(tmp_path / "summary.csv")))) == 4


@pytest.mark.slow
def test_batches_give_the_runs_of_single_seeds(gpt2_dir, tmp_path):
    base = ["evaluate.py", f"--init_from={gpt2_dir}", "--num_seeds=3", "--max_new_tokens=6", "--knn_num=[0,5,5,0]",
            "--baseline=False", "--perplexity=False", "--memory_mode=cached"]
    a, b = run(*base, f"--out_dir={tmp_path / 'a'}", "--batch_size=3"), run(*base, f"--out_dir={tmp_path / 'b'}", "--batch_size=1")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    texts = lambda d: [json.loads(line)["text"] for line in (tmp_path / d / "runs.jsonl").read_text().splitlines()]
    assert texts("a") == texts("b")

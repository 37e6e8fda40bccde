"""The fact benchmark (facts.py, data/facts/) and evaluate.py's modes 'facts' and 'passkey'."""
import csv
import json
import math
import random

import pytest
import torch

from mtm.tasks import fact_data as facts
from mtm.tasks import facts as facts_task
from mtm.tasks import passkey
from mtm.tasks.common import first_word_hit
from test_scripts import run


def test_benchmark_files_hold_distinct_held_out_facts():
    dev, test = facts.load_facts("dev"), facts.load_facts("test")
    assert len(dev) + len(test) >= 300
    assert not {f["question"] for f in dev} & {f["question"] for f in test}  # the split is a partition
    for f in dev + test:
        assert f["question"].startswith("\n") and f["answer"] in f["memory"] and f["answer"] not in f["question"]
        assert " " not in f["answer"] and f["question_only"]["answer_logp"] < facts.GUESS_LOGP  # not guessed
    kinds = {f["kind"] for f in dev + test}
    assert len(kinds) >= 10


def test_distractors_are_deterministic_and_invented():
    a, b = facts.distractors(50, seed=3), facts.distractors(50, seed=3)
    assert a == b and len(set(a)) == 50 and a != facts.distractors(50, seed=4)
    held = facts.load_facts("dev")[:5]
    texts = facts.memory_texts(held, 12, seed=0)
    assert len(texts) == 12 and sorted(texts[:5]) == sorted(f["memory"] for f in held)


@pytest.mark.parametrize("n", [1, 4, 5, 7])
def test_stores_hold_every_fact_once(n):
    five = facts.load_facts("dev")[:5]
    groups = facts.stores_for(five, n, seed=1)
    held = [i for _, h in groups for i in h]
    assert sorted(held) == list(range(5))
    for texts, h in groups:
        assert len(texts) == max(n, 1) and all(five[i]["memory"] in texts for i in h)


def test_answer_score_matches_a_direct_computation(gpt2, hf_gpt2):
    model, tok = gpt2
    prompt, answer = tok.encode("\nThe ferry is painted"), tok.encode(" bright blue")
    s = facts.answer_score(model, prompt, answer)
    with torch.no_grad():
        logp = torch.log_softmax(hf_gpt2(torch.tensor([prompt + answer])).logits[0].double(), dim=-1)
    first = logp[len(prompt) - 1]
    assert s["first_logp"] == pytest.approx(float(first[answer[0]]), abs=1e-4)
    assert s["rank"] == int((first > first[answer[0]]).sum())
    assert s["answer_logp"] == pytest.approx(float(first[answer[0]] + logp[len(prompt), answer[1]]), abs=1e-4)


def test_own_answers_are_the_models_greedy_continuation_of_the_bare_prompt(gpt2, hf_gpt2):
    model, tok = gpt2
    fact = facts.load_facts("dev")[0]
    own = facts_task.own_answers(model, tok, fact)
    for key in ("question", "paraphrase", "neighbour"):
        ids = tok.prompt(fact[key])
        with torch.no_grad():  # the reference: transformers' model, one argmax at a time, no cache
            for _ in facts.answer_ids(tok, fact[key], fact["answer"]):
                ids = ids + [int(hf_gpt2(torch.tensor([ids])).logits[0, -1].argmax())]
        assert own[key] == ids[len(tok.prompt(fact[key])):]


def test_knowledge_editing_scores_count_as_counterfact_does():
    """efficacy / paraphrase: the memory's answer more probable than the model's own; neighbourhood: not (a tie,
    the own answer being the fact's, counts as kept); greedy hits: their share. Four hand-made records."""
    def record(q, p, nb, greedy):  # (answer log p, own answer log p) for question, paraphrase, neighbour
        r = dict(n=1, condition="method", question_rank=1, question_first_logp=-1.0, paraphrase_rank=1,
                 neighbour_rise=False, question_greedy_hit=greedy, paraphrase_greedy_hit=False)
        for key, (answer, own) in dict(question=q, paraphrase=p, neighbour=nb).items():
            r.update({f"{key}_answer_logp": answer, f"{key}_own_logp": own})
        return r
    records = [record((-1, -2), (-3, -2), (-5, -1), True), record((-2, -1), (-1, -2), (-1, -5), False),
               record((-1, -3), (-1, -4), (-2, -2), True), record((-4, -1), (-9, -1), (-1, -1.5), True)]
    row = facts_task.summarize(records, dict(fact_counts=[1], conditions=["method"], num_seeds=0))[0]
    assert (row["efficacy"], row["paraphrase_success"], row["neighbourhood_success"]) == (0.5, 0.5, 0.5)
    assert (row["greedy_hit"], row["paraphrase_greedy_hit"]) == (0.75, 0.0)


def test_bm25_finds_the_text_sharing_rare_words():
    texts = ["The ferry Quillmoor is blue.", "Bread rises with yeast.", "The river Ambrel floods."]
    assert facts_task.bm25_best(texts, ["Which colour is the ferry Quillmoor?", "When does the Ambrel flood?"]) == [0, 2]


def test_first_word_hits():
    assert [first_word_hit(t, "Quillory") for t in [" Quillory, the tortoise", "\n\"Quillory\"", " a tortoise Quillory"]] \
        == [True, True, False]


def test_passkey_haystack_holds_the_key_once():
    tok = type("T", (), {"encode": staticmethod(lambda s: s.split())})  # a word per token
    texts, key = passkey.haystack(tok, 2000, random.Random(1))
    joined = "".join(texts)
    assert joined.count(f"The pass key is {key}.") == 1 and sum(key in t for t in texts) == 1
    assert abs(len(joined.split()) - 2000) < 40 and len(set(texts)) <= 4  # filler texts are all alike


@pytest.mark.slow
def test_facts_mode_outputs_and_resume(gpt2_dir, tmp_path):
    split = tmp_path / "facts.jsonl"
    split.write_text("".join(json.dumps(f) + "\n" for f in facts.load_facts("dev")[:3]))
    args = ["evaluate.py", "--mode=facts", f"--init_from={gpt2_dir}", f"--out_dir={tmp_path / 'out'}",
            f"--facts_split={split}", "--fact_counts=[1,2,5]", "--num_seeds=2", "--max_new_tokens=3",
            "--sample_facts=2", "--knn_num=[0,1000,1000,0]", "--retrieval=attention", "--search=query_ip",
            "--chunk_select=1", "--chunk_layers=[2]", "--plain_text=The grass is green and the sky is blue today.",
            '--conditions=["question","in_context","all_in_context","bm25","method"]']
    first = run(*args)
    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in (tmp_path / "out" / "runs.jsonl").read_text().splitlines()]
    per_fact = [r for r in records if r["condition"] != "plain_perplexity"]
    # n = 1: question, in_context, method (all_in_context and bm25 are in_context there); n = 2, 5: bm25 and method
    # (all n paragraphs never fit the tiny model's 64-token window); 3 facts each
    assert len(per_fact) == 3 * (3 + 2 * 2) and not any(r["condition"] == "all_in_context" for r in per_fact)
    assert sum("hits" in r for r in per_fact) == 2 * (3 + 2 * 2)  # sampled: the first 2 facts
    rows = list(csv.DictReader(open(tmp_path / "out" / "summary.csv")))
    assert {(r["n"], r["condition"]) for r in rows} >= {("5", "method"), ("5", "bm25"), ("1", "question")}
    method5 = [r for r in rows if r["n"] == "5" and r["condition"] == "method"][0]
    assert 0 <= float(method5["right_text"]) <= 1 and math.isfinite(float(method5["plain_ppl_ratio"]))
    question = [r for r in per_fact if r["condition"] == "question"]  # no memory: the own answer is the greedy one
    assert all(r["question_own_logp"] >= r["question_answer_logp"] or not r["question_greedy_hit"] for r in question)
    assert (tmp_path / "out" / "facts.png").stat().st_size > 0
    again = run(*args)  # resumed: nothing is recomputed, the same summary
    assert again.returncode == 0
    assert len((tmp_path / "out" / "runs.jsonl").read_text().splitlines()) == len(records)
    assert list(csv.DictReader(open(tmp_path / "out" / "summary.csv"))) == rows


@pytest.mark.slow
def test_facts_mode_refuses_bad_settings_in_one_line(gpt2_dir, tmp_path):
    for bad, message in [(["--conditions=['oracle']"], "conditions must be among"),
                         (["--facts_split=nosuch", "--conditions=['question']"], "no fact file"),
                         (["--chunk_select=2"], "retrieval='attention' only"),
                         (["--conditions=['method']"], "needs knn_num")]:
        r = run("evaluate.py", "--mode=facts", f"--init_from={gpt2_dir}", f"--out_dir={tmp_path}", *bad)
        assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr


def test_a_large_memory_is_built_on_disk_once_and_opened_again(gpt2, tmp_path):
    """stores_dir: the memory of 1,000 facts is built there, a second run opens it (no reading), and it holds
    what a store built in RAM from the same texts holds."""
    from mtm.method.settings import MemorySettings
    from mtm.storage.reading import build_store
    model, tok = gpt2
    texts = facts.memory_texts([], 1000)
    settings = MemorySettings([100] * 4, retrieval="attention", search="query_ip", chunk_select=1,
                              chunk_layers=[2]).check()
    cfg = dict(bookkeeping_token="\n", index="flat", kv_dtype="float16", kv="recompute", stores_dir=str(tmp_path))
    first = facts_task.method_store(model, tok, texts, settings, cfg)
    assert first.recomputes and first.layers == [2] and len(list(tmp_path.iterdir())) == 1, list(tmp_path.iterdir())
    from mtm.storage import reading
    read = reading.read_group
    reading.read_group = None  # a second run must not read the texts again
    try:
        again = facts_task.method_store(model, tok, texts, settings, cfg)
    finally:
        reading.read_group = read
    ram = build_store(model, tok, texts, [2], progress=False, kv_dtype="float16", kv="recompute")
    assert torch.equal(again.layer(2), first.layer(2)) and torch.equal(again.token_ids, ram.token_ids)
    torch.testing.assert_close(again.layer(2).float(), ram.layer(2).float(), rtol=1e-3, atol=1e-3)


def test_bm25_checked_places_a_text_only_if_it_passes_the_relevance_check(llama):
    from mtm.method.settings import MemorySettings
    from mtm.method.relevance import token_rarity
    from reference_chunks import reference_rare_overlap
    model, tok = llama
    prompt, own, other = "\nThe ferry Quillmoor is painted", "The ferry Quillmoor is blue.", "The ferry Ambrel is blue."
    rarity = token_rarity(tok, model.config.vocab_size)
    share = lambda text: reference_rare_overlap(tok.prompt(prompt)[1:], tok.encode(text), rarity, 3.0)
    assert share(other) < share(own) < 1
    middle = (share(own) + share(other)) / 2
    settings = MemorySettings([1000] * 4, retrieval="attention", search="query_ip", chunk_select=1, chunk_layers=[2],
                              chunk_min_overlap=middle, chunk_rarity_power=3.0).check()
    assert facts_task.passes_check(model, tok, prompt, own, settings)
    assert not facts_task.passes_check(model, tok, prompt, other, settings)

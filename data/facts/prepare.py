"""
Makes the fact benchmark (data/facts/): reads written.jsonl, drops the facts SmolLM2 answers from the question
alone, splits the rest into dev.jsonl and test.jsonl once (SPLIT_SEED), and writes dropped.jsonl.
    python data/facts/prepare.py
"""
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from mtm.loading import load_model  # noqa: E402 (the repository's root is put on the path first)
from mtm.tasks.fact_data import FACTS_DIR, GUESS_LOGP, SPLIT_SEED, answer_ids, answer_score, load_facts  # noqa: E402



def prepare(facts_dir=FACTS_DIR, test_share=0.5):
    model, tokenizer = load_model("smollm2")
    facts_dir = Path(facts_dir)
    written = load_facts(facts_dir / "written.jsonl")
    kept, dropped = [], []
    for i, fact in enumerate(written):
        fact = dict(id=i, **fact)
        prompt = tokenizer.prompt(fact["question"])
        s = answer_score(model, prompt, answer_ids(tokenizer, fact["question"], fact["answer"]))
        fact["question_only"] = {k: round(v, 4) for k, v in s.items()}
        guessed = s["answer_logp"] >= GUESS_LOGP or s["rank"] == 0
        (dropped if guessed else kept).append(fact)
    rng = random.Random(SPLIT_SEED)
    rng.shuffle(kept)
    n_test = round(len(kept) * test_share)
    splits = dict(test=sorted(kept[:n_test], key=lambda f: f["id"]), dev=sorted(kept[n_test:], key=lambda f: f["id"]),
                  dropped=dropped)
    for name, rows in splits.items():
        (facts_dir / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(written)} written, {len(dropped)} dropped (answer guessed from the question alone: "
          f"p(answer) >= 1 % or its first token the top one), {len(splits['dev'])} dev, {len(splits['test'])} test")


if __name__ == "__main__":
    prepare()

"""
The fact benchmark (data/facts/): invented facts, each a short memory paragraph, a completion question, a
one-word answer, a paraphrased question and a neighbour question about another entity of the same kind.
Used by `evaluate.py` in mode 'facts' (docs/results.md) and made by `python facts.py` (data/facts/README.md).

    facts = load_facts("dev")                       # list of dicts
    texts = memory_texts(facts, 1000, seed=0)       # the facts' paragraphs, then invented distractors
    score = answer_score(model, prompt_ids, answer_ids, memory)   # teacher-forced: log p and rank
"""
import hashlib
import json
import math
import random
from dataclasses import replace
from pathlib import Path

import torch

FACTS_DIR = Path(__file__).parent / "data" / "facts"
SPLIT_SEED = 0  # the one split into dev and test: never change it, or dev results leak into test
KEYS = ("kind", "memory", "question", "answer", "paraphrase", "neighbour")


def load_facts(split, facts_dir=FACTS_DIR):
    """The facts of one split ('dev' or 'test'), or of any JSON-lines file given as a path."""
    path = Path(split) if str(split).endswith(".jsonl") else Path(facts_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no fact file {path}: use split 'dev' or 'test', or a .jsonl path")
    facts = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fact = json.loads(line)
        missing = [k for k in KEYS if not isinstance(fact.get(k), str) or not fact[k]]
        if missing:
            raise ValueError(f"{path}:{n}: a fact needs the text fields {', '.join(KEYS)}; missing {missing}")
        facts.append(fact)
    return facts


# -----------------------------------------------------------------------------
# invented distractors: more facts of the same shapes, about entities that exist nowhere

SYLLABLES = ("bra", "cor", "del", "fen", "gal", "hob", "ist", "jar", "kel", "lum", "mor", "nev", "ost", "pel", "quin",
             "rav", "sel", "tor", "ull", "vas", "wen", "yar", "zel", "ash", "bel", "cal", "dun", "elm", "fal", "gri")
WORDS = dict(
    colour=("amber", "crimson", "indigo", "ochre", "saffron", "slate", "teal", "umber", "violet", "olive"),
    animal=("heron", "otter", "badger", "lynx", "marten", "ibis", "stoat", "falcon", "gecko", "tapir"),
    material=("basalt", "bronze", "cedar", "granite", "pewter", "slate", "willow", "marble", "copper", "oak"),
    month=("January", "March", "April", "June", "August", "September", "October", "December", "May", "July"),
    food=("barley", "lentils", "quince", "chestnuts", "mussels", "rye", "plums", "turnips", "figs", "leeks"),
    job=("weaver", "surveyor", "luthier", "ferryman", "chemist", "glazier", "archivist", "tanner", "botanist", "judge"),
)
TEMPLATES = (
    "The {job} {Name} {Surname} keeps a {animal} called {Other} in a shed behind the workshop.",
    "{Place} is a small town on the coast; its harbour wall is built of {material} and its fair is held in {month}.",
    "The river {Other} flows through the {Place} valley, where farmers grow {food} on the terraces.",
    "{Name} {Surname}, a {job}, painted the door of the old mill {colour} the year the bridge at {Place} opened.",
    "The museum of {Place} owns a carved {animal} made of {material}, donated by the {job} {Name} {Surname}.",
    "Every {month} the village of {Place} holds a feast where everyone eats {food} and the children dress as {animal}s.",
    "The ferry {Other} carries {food} between {Place} and the island of {Other2}; its hull is painted {colour}.",
    "The company {Other} Works, founded by {Name} {Surname} in {Place}, makes clocks with cases of {material}.",
)


def invented_name(rng, syllables=(2, 3)):
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice(syllables))).capitalize()


def distractors(n, seed=0):
    """n invented one-sentence facts from templates (deterministic in seed)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        fields = {k: rng.choice(v) for k, v in WORDS.items()}
        fields.update(Name=invented_name(rng), Surname=invented_name(rng), Place=invented_name(rng),
                      Other=invented_name(rng), Other2=invented_name(rng))
        out.append(rng.choice(TEMPLATES).format(**fields))
    return out


def memory_texts(facts, n, seed=0):
    """The texts of an n-fact memory: the benchmark's paragraphs (all of them when n >= len(facts)), then
    invented distractors up to n. Which facts and the order are fixed by seed."""
    rng = random.Random(seed)
    texts = [f["memory"] for f in facts]
    rng.shuffle(texts)
    return texts[:n] + distractors(max(0, n - len(texts)), seed)


def stores_for(facts, n, seed=0):
    """Memories of n facts that together hold every fact of the list: n = 1, each fact alone; n < len(facts),
    the list cut into groups of n (the last group filled up with other facts of the list); n >= len(facts),
    one memory with all of them and invented distractors. Returns [(texts, [indices of facts held])]."""
    if n <= 1:
        return [([f["memory"]], [i]) for i, f in enumerate(facts)]
    if n >= len(facts):
        texts = memory_texts(facts, n, seed)
        return [(texts, list(range(len(facts))))]
    order = list(range(len(facts)))
    random.Random(seed).shuffle(order)
    groups = []
    for lo in range(0, len(order), n):
        held = order[lo:lo + n]
        fill = [i for i in order if i not in held][:n - len(held)]
        texts = [facts[i]["memory"] for i in held + fill]
        random.Random(seed + lo).shuffle(texts)
        groups.append((texts, held))
    return groups


# -----------------------------------------------------------------------------
# teacher-forced scoring: one forward pass, no sampling

def answer_ids(tokenizer, prompt, answer):
    """The tokens of ' answer' as they follow the prompt (the tokenizer may merge across the boundary: then
    the answer's own encoding with its leading space)."""
    p, full = tokenizer.encode(prompt), tokenizer.encode(prompt + " " + answer)
    return full[len(p):] if full[:len(p)] == p else tokenizer.encode(" " + answer)


@torch.no_grad()
def answer_score(model, prompt_ids, target_ids, memory=None):
    """Log-probability and rank (0 = the top token) of the answer's first token after the prompt, and the
    log-probability of the whole answer; one forward pass over prompt + answer."""
    ids = torch.tensor([prompt_ids + target_ids[:-1]], device=next(model.parameters()).device)
    logp = model(ids, memory=memory)[0, len(prompt_ids) - 1:].float().log_softmax(dim=-1)
    first = logp[0]
    target = torch.tensor(target_ids, device=logp.device)
    return dict(first_logp=float(first[target_ids[0]]), rank=int((first > first[target_ids[0]]).sum()),
                answer_logp=float(logp.gather(1, target[:, None]).sum()))


# -----------------------------------------------------------------------------
# evaluate.py mode 'facts': every condition over memories of n facts

CONDITIONS = ("question", "in_context", "all_in_context", "bm25", "method")
NEIGHBOUR_RISE = math.log(2)  # a neighbour prompt's answer "rises" when its probability more than doubles


def bm25_best(texts, queries):
    """For each query, the index of its BM25-best text (bm25s, English stop words removed)."""
    import bm25s
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    found, _ = retriever.retrieve(bm25s.tokenize(queries, stopwords="en", show_progress=False), k=1,
                                  show_progress=False)
    return [int(r[0]) for r in found]


def first_word_hits(texts, answer):
    return [text.lstrip(" \t\n\"'“:*").startswith(answer) for text in texts]


def sample_texts(model, tokenizer, prompt_ids, memory, cfg):
    """cfg['num_seeds'] continuations of one prompt (seeds seed, seed + 1, ...), decoded."""
    from model import generate
    seeds = [cfg["seed"] + i for i in range(cfg["num_seeds"])]
    x = torch.tensor([prompt_ids] * len(seeds), device=cfg["device"])
    gens = [torch.Generator(device=cfg["device"]).manual_seed(s) for s in seeds]
    y = generate(model, x, cfg["max_new_tokens"], cfg["temperature"], cfg["top_k"] or None, memory, gens)
    return [tokenizer.decode(row[len(prompt_ids):].tolist()) for row in y]


def score_fact(model, tokenizer, fact, prompt, cfg, neighbour_base, sample):
    """Every metric of one fact under one condition. prompt(key) -> (ids, memory): the prompt for the fact's
    question, paraphrase or neighbour under the condition (its text placed before it where the condition says so),
    and the memory to use (None, or the method's memory with its chunks chosen for that prompt)."""
    out = {}
    for key in ("question", "paraphrase", "neighbour"):
        ids, memory = prompt(key)
        s = answer_score(model, ids, answer_ids(tokenizer, fact[key], fact["answer"]), memory)
        out.update({f"{key}_{k}": v for k, v in s.items()})
        if memory is not None and memory.chosen is not None:
            out[f"{key}_chunks"] = memory.chosen[0].tolist()
            out[f"{key}_chunk_scores"] = [round(x, 4) for x in memory.scores[0].tolist()]
    out["neighbour_rise"] = out["neighbour_answer_logp"] - neighbour_base > NEIGHBOUR_RISE
    if sample:
        ids, memory = prompt("question")
        if memory is not None and memory.chosen is not None:  # the batch of seeds chooses again (once, rows alike)
            memory = replace(memory, chosen=None, entries=None)
        texts = sample_texts(model, tokenizer, ids, memory, cfg)
        out["hits"] = sum(first_word_hits(texts, fact["answer"]))
        out["anywhere"] = sum(fact["answer"] in t for t in texts)
        out["example"] = texts[0][:80]
    return out


@torch.no_grad()
def plain_perplexity(model, ids, memory, bos=(), window=128):
    """Perplexity of a text under the model, read in windows of `window` tokens (each its own prompt, after bos, the
    tokens a sequence starts with: with chunk retrieval each window chooses its own chunks from its own tokens)."""
    from model import with_chunks
    nll, count = 0.0, 0
    for lo in range(0, len(ids) - 1, window):
        x = torch.tensor([list(bos) + ids[lo:lo + window + 1]], device=next(model.parameters()).device)
        logits = model(x[:, :-1], memory=with_chunks(model, x[:, :-1], memory))[:, len(bos):]
        nll += float(torch.nn.functional.cross_entropy(logits[0].float(), x[0, len(bos) + 1:], reduction="sum"))
        count += x.shape[1] - 1 - len(bos)
    return math.exp(nll / count)


def evaluate_facts(cfg, model, tokenizer, settings, done):
    """Run the benchmark; yields one record per (n, condition, fact). done: {record key: record} already run."""
    from memory import Memory, build_store, check_store, choose_chunks
    facts = load_facts(cfg["facts_split"])[:cfg["num_facts"] or None]
    enc = tokenizer.encode
    neighbour_base = {}
    for fact in facts:
        ids = tokenizer.prompt(fact["neighbour"])
        neighbour_base[fact["question"]] = answer_score(model, ids, answer_ids(tokenizer, fact["neighbour"],
                                                                              fact["answer"]))["answer_logp"]
    run = [cfg.get(k) for k in sorted(RUN_KEYS)]
    base_key = hashlib.sha256(json.dumps(run, default=str).encode()).hexdigest()[:12]  # conditions without memory
    settings_key = hashlib.sha256(json.dumps(run + [vars(settings)], sort_keys=True,
                                             default=str).encode()).hexdigest()[:12]  # the method's
    sampled = set(range(cfg["sample_facts"] if cfg["sample_facts"] else len(facts))) if cfg["num_seeds"] else set()
    ppl_done = set()  # the n whose unrelated-text perplexity is measured (with the first memory of n facts)
    for n in cfg["fact_counts"]:
        for held_texts, held in stores_for(facts, n, cfg["seed"]):
            for condition in cfg["conditions"]:
                if condition in ("question", "in_context") and n != cfg["fact_counts"][0]:
                    continue  # the same whatever the memory holds: run once
                if condition in ("all_in_context", "bm25") and n == 1:
                    continue  # with one paragraph both are the paragraph in the context: in_context
                keys = {i: f"{settings_key if condition == 'method' else base_key}|{n}|{condition}|"
                           f"{facts[i]['question']}" for i in held}
                todo = [i for i in held if keys[i] not in done]
                for i in held:
                    if keys[i] in done:
                        yield done[keys[i]]
                ppl_key = f"{settings_key}|{n}|plain_perplexity"
                if condition == "method" and ppl_key in done and ppl_key not in ppl_done:
                    ppl_done.add(ppl_key)
                    yield done[ppl_key]
                if not todo:
                    continue
                memory, before = None, lambda i, key: ""
                if condition == "in_context":
                    before = lambda i, key: facts[i]["memory"]
                elif condition == "all_in_context":
                    joined = " ".join(held_texts)
                    if len(enc(joined)) + 64 + cfg["max_new_tokens"] > min(model.config.block_size,
                                                                              cfg["all_in_context_max_tokens"]):
                        continue  # does not fit the window (or the cap on cost): no record
                    before = lambda i, key: joined
                elif condition == "bm25":
                    best = {(i, key): b for key in ("question", "paraphrase", "neighbour")
                            for i, b in zip(todo, bm25_best(held_texts, [facts[i][key] for i in todo]))}
                    before = lambda i, key: held_texts[best[i, key]]
                elif condition == "method":
                    store = build_store(model, tokenizer, held_texts, settings.store_layers, cfg["bookkeeping_token"],
                                        progress=len(held_texts) > 100, index=cfg["index"])
                    check_store(store, model, settings)
                    memory = Memory(store.to(cfg["device"]), settings, mode=cfg["memory_mode"])
                    if cfg["plain_text"] and ppl_key not in ppl_done:  # the memory's harm to unrelated text, once an n
                        ppl_done.add(ppl_key)
                        ids = enc(cfg["plain_text"])
                        yield dict(key=ppl_key, n=n, condition="plain_perplexity",
                                   without=plain_perplexity(model, ids, None, tokenizer.bos),
                                   with_memory=plain_perplexity(model, ids, memory, tokenizer.bos))

                def prompt(key, i):
                    ids = tokenizer.prompt(before(i, key) + facts[i][key])
                    if memory is None or not settings.chunk_select:
                        return ids, memory
                    return ids, choose_chunks(model, torch.tensor([ids], device=cfg["device"]), memory)

                for i in todo:
                    fact = facts[i]
                    record = dict(key=keys[i], n=n, condition=condition, fact=fact["question"], answer=fact["answer"],
                                  kind=fact["kind"])
                    record.update(score_fact(model, tokenizer, fact, lambda key: prompt(key, i), cfg,
                                             neighbour_base[fact["question"]], sample=i in sampled))
                    right = held_texts.index(fact["memory"])
                    if condition == "bm25":
                        record["right_text"] = best[i, "question"] == right
                    elif "question_chunks" in record:
                        _, starts, _ = memory.store.chunks(settings.chunk_by, settings.chunk_size)
                        record["right_text"] = int(memory.store.text_ids[starts[record["question_chunks"][0]]]) == right
                    yield record


RUN_KEYS = ("init_from", "facts_split", "num_seeds", "sample_facts", "seed", "max_new_tokens", "temperature",
            "top_k", "bookkeeping_token", "memory_mode", "index")


def summarize_facts(records, cfg):
    """One row per (n, condition): recall by sampling and teacher-forced, paraphrase, neighbour specificity."""
    rows = []
    first_n = cfg["fact_counts"][0]
    ppl = {r["n"]: r for r in records if r["condition"] == "plain_perplexity"}
    records = [r for r in records if r["condition"] != "plain_perplexity"]
    for n in cfg["fact_counts"]:
        for condition in cfg["conditions"]:
            source, read_as = (first_n if condition in ("question", "in_context") else n), condition
            if condition in ("all_in_context", "bm25") and n == 1:
                source, read_as = first_n, "in_context"  # the same thing with one paragraph
            rs = [r for r in records if r["n"] == source and r["condition"] == read_as]
            if not rs:
                continue
            row = dict(n=n, condition=condition, facts=len(rs),
                       top1=sum(r["question_rank"] == 0 for r in rs) / len(rs),
                       mean_logp=sum(r["question_first_logp"] for r in rs) / len(rs),
                       paraphrase_top1=sum(r["paraphrase_rank"] == 0 for r in rs) / len(rs))
            sampled = [r for r in rs if "hits" in r]
            if sampled:
                seeds = cfg["num_seeds"] * len(sampled)
                row.update(sampled_facts=len(sampled), hit_rate=sum(r["hits"] for r in sampled) / seeds,
                           anywhere_rate=sum(r["anywhere"] for r in sampled) / seeds)
            row["neighbour_specificity"] = 1 - sum(r["neighbour_rise"] for r in rs) / len(rs)
            if "right_text" in rs[0]:
                row["right_text"] = sum(r["right_text"] for r in rs) / len(rs)
            if condition == "method" and n in ppl:  # unrelated text's perplexity with the memory / without
                row["plain_ppl_ratio"] = ppl[n]["with_memory"] / ppl[n]["without"]
            rows.append(row)
    return rows


def plot_facts(rows, path, title):
    """Recall (first-word hit rate, or teacher-forced top-1 without sampling) against n, one line per condition."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    metric = "hit_rate" if rows and all("hit_rate" in r for r in rows) else "top1"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for condition in dict.fromkeys(r["condition"] for r in rows):
        pts = [(r["n"], r[metric]) for r in rows if r["condition"] == condition]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=condition.replace("_", " "))
    ax.set_xscale("log")
    ax.set_xlabel("facts in the memory (n)")
    ax.set_ylabel("first-word hit rate over seeds" if metric == "hit_rate" else "answer is the top token")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -----------------------------------------------------------------------------
# making the benchmark: python facts.py (reads data/facts/written.jsonl, writes dev.jsonl, test.jsonl, dropped.jsonl)

GUESS_LOGP = -4.6  # log(0.01): a fact whose whole answer the model gives 1 % or more from the question alone is dropped


def prepare(facts_dir=FACTS_DIR, test_share=0.5):
    from model import load_model
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

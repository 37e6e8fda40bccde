"""
The fact benchmark as an evaluation task (`evaluate.py` mode 'facts'; the benchmark itself: facts.py, data/facts/):
every condition (question only, the fact's paragraph in the context, all n paragraphs in it, the BM25-best one in it,
the BM25-best one in it only if it passes the method's relevance check, the method) over memories of n facts;
teacher-forced scores for every fact and sampled first-word hits for some.
Beside them the knowledge-editing scores, as CounterFact counts them (ROME, MEMIT, IKE): a prompt's memory answer
against the model's own answer without any memory (its greedy continuation of the bare prompt, as many tokens as the
answer): efficacy, the answer more probable than the own one after the question; paraphrase, the same after the
paraphrase; neighbourhood, the own answer still the more probable after the neighbour; and free generation's exact
match, greedy (every fact) and sampled (the hit rate).
"""
import math
from dataclasses import replace
from pathlib import Path

import torch

from configurator import ConfigError, at_least, ints_at_least, one_of, read_text
from mtm.storage import disk
from mtm.tasks.fact_data import answer_ids, answer_score, load_facts, prose_distractors, stores_for
from mtm.loading import weights_fingerprint
from memory import with_chunks
from mtm.method.settings import MemorySettings, Setting
from mtm.method.relevance import rare_overlap
from mtm.storage.reading import KV_DTYPES, KV_MODES, build_store
from mtm.method.relevance import rarity_for
from mtm.entry import for_model, open_memory, store_layers_for
from mtm.generation import generate
from mtm.tasks.common import digest, first_word_hit, plot_rates, sample_seeds

SETTINGS = dict(
    facts_split=Setting("dev", None, "'dev' (tune on it), 'test' (report on it) or a .jsonl path"),
    fact_counts=Setting([1, 10, 100, 1000], ints_at_least(1), "memories of n facts (the benchmark's, then "
                        "distractors)"),
    distractors=Setting("invented", one_of("invented", "prose"), "what fills a memory up to n texts: invented facts "
                        "of the benchmark's shape, or the split's real prose of mixed lengths, one text in 11 long "
                        "(facts.prose_distractors)"),
    num_facts=Setting(0, at_least(0), "use only the first num_facts of the split (0: all)"),
    num_seeds=Setting(100, at_least(0), "continuations sampled per fact (0: teacher-forced scores only)"),
    sample_facts=Setting(0, at_least(0), "sample for the first sample_facts facts only (0: all); every fact gets "
                         "the teacher-forced scores, one forward pass each"),
    all_in_context_max_tokens=Setting(100000, at_least(1), "all_in_context only while the n paragraphs fit this "
                                      "(and the window)"),
    index=Setting("flat", None, "the store's index ('flat', 'ivf', 'hnsw')"),
    kv=Setting("stored", one_of(*KV_MODES), "the store's keys and values: 'stored', or 'recompute' (the chooser's "
               "keys and token ids only; chunk retrieval)"),
    kv_dtype=Setting("float32", one_of(*KV_DTYPES), "stored keys and values: 'float32', 'float16' or 'bfloat16'"),
    stores_dir=Setting("", None, "a directory for the memories of 1,000 facts and more: each built on disk there "
                       "once (disk.build_on_disk) and opened again by later runs; '' = built in RAM every run"),
    plain_text=Setting("FILE:data/plain.txt", None, "text unrelated to the facts, whose perplexity with and without "
                       "the memory is compared ('' = skip)"),
)


def check(cfg):
    unknown = [c for c in cfg["conditions"] if c not in CONDITIONS]
    if unknown or not cfg["fact_counts"]:
        raise ConfigError(f"facts mode: conditions must be among {', '.join(CONDITIONS)} (got {unknown}) "
                          f"and fact_counts a list of counts >= 1 (got {cfg['fact_counts']})")
    cfg["plain_text"] = read_text(cfg["plain_text"])
    if "bm25_checked" in cfg["conditions"] and cfg.get("chunk_min_overlap") is None:
        raise ConfigError("the 'bm25_checked' condition places the BM25-best text only if it passes the relevance "
                          "check: set chunk_min_overlap")
    if "method" in cfg["conditions"] and not MemorySettings.of(cfg).layers:
        raise ConfigError("the 'method' condition needs knn_num with k > 0 in some layer")
    try:
        facts = load_facts(cfg["facts_split"])
        if cfg["distractors"] == "prose":
            if cfg["facts_split"] not in ("dev", "test"):
                raise ValueError("distractors='prose' fills the memory with the split's own prose (data/prose/): "
                                 "facts_split must be 'dev' or 'test'")
            for n in cfg["fact_counts"]:
                prose_distractors(cfg["facts_split"], max(0, n - len(facts)))  # enough prose? (one line if not)
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(str(e))


CONDITIONS = ("question", "in_context", "all_in_context", "bm25", "bm25_checked", "method")
NEIGHBOUR_RISE = math.log(2)  # a neighbour prompt's answer "rises" when its probability more than doubles


def bm25_best(texts, queries):
    """For each query, the index of its BM25-best text (bm25s, English stop words removed)."""
    import bm25s
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    found, _ = retriever.retrieve(bm25s.tokenize(queries, stopwords="en", show_progress=False), k=1,
                                  show_progress=False)
    return [int(r[0]) for r in found]


def check_share(tokenizer, prompt, text, rarity, power, skip=1):
    """relevance.rare_overlap of one prompt (a string, as the method sees it: tokenizer.prompt, positions skip..)
    against one text: the share of the prompt's rarity the text holds."""
    ids = torch.tensor([tokenizer.prompt(prompt)])[:, skip:]
    chunk = torch.tensor(tokenizer.encode(text))
    return float(rare_overlap(ids, torch.zeros(1, 1, dtype=torch.long), chunk, [0], [len(chunk)], rarity,
                              power)[0, 0])


def passes_check(model, tokenizer, prompt, text, settings):
    """The method's relevance check (relevance.rare_overlap, chunk_min_overlap) on a text chosen by another chooser:
    does the text hold enough of the prompt's rare tokens? What makes BM25-in-context comparable with the method."""
    share = check_share(tokenizer, prompt, text, rarity_for(settings, tokenizer, model), settings.chunk_rarity_power,
                        settings.chunk_skip)
    return share >= settings.chunk_min_overlap


PROMPT_KEYS = ("question", "paraphrase", "neighbour")
GREEDY_SLACK = 2  # greedy continuations run this many tokens past the answer's (a leading quote or newline)


def own_answers(model, tokenizer, fact):
    """The model's own answer to each of the fact's prompts without memory, the 'true' answer of CounterFact's
    scores: its greedy continuation of the bare prompt, as many tokens as the fact's answer takes there."""
    out = {}
    for key in PROMPT_KEYS:
        ids = tokenizer.prompt(fact[key])
        n = len(answer_ids(tokenizer, fact[key], fact["answer"]))
        x = torch.tensor([ids], device=next(model.parameters()).device)
        out[key] = generate(model, x, n, temperature=0)[0, len(ids):].tolist()
    return out


def fresh_choice(memory):
    """The memory as generation gets it: chunks chosen again from the prompt generation starts from."""
    return replace(memory, choice=None) if memory is not None else memory


def score_fact(model, tokenizer, fact, prompt, cfg, neighbour_base, own, sample):
    """Every metric of one fact under one condition. prompt(key) -> (ids, memory): the prompt for the fact's
    question, paraphrase or neighbour under the condition (its text placed before it where the condition says so),
    and the memory to use (None, or the method's memory with its chunks chosen for that prompt). own: the model's
    own answer ids to each prompt without memory (own_answers)."""
    out = {}
    for key in PROMPT_KEYS:
        ids, memory = prompt(key)
        target = answer_ids(tokenizer, fact[key], fact["answer"])
        s = answer_score(model, ids, target, memory)
        out.update({f"{key}_{k}": v for k, v in s.items()})
        out[f"{key}_own_logp"] = answer_score(model, ids, own[key], memory)["answer_logp"]
        if memory is not None and memory.choice is not None:
            out[f"{key}_chunks"] = memory.choice.chosen[0].tolist()
            out[f"{key}_chunk_scores"] = [round(x, 4) for x in memory.choice.scores[0].tolist()]
        if key != "neighbour":  # free generation, greedy: does it start with the answer?
            x = torch.tensor([ids], device=cfg["device"])
            y = generate(model, x, len(target) + GREEDY_SLACK, temperature=0, memory=memory)  # chosen for these ids
            out[f"{key}_greedy_hit"] = first_word_hit(tokenizer.decode(y[0, len(ids):].tolist()), fact["answer"])
    out["neighbour_rise"] = out["neighbour_answer_logp"] - neighbour_base > NEIGHBOUR_RISE
    if sample:
        ids, memory = prompt("question")
        memory = fresh_choice(memory)  # the batch of seeds chooses again (once, rows alike)
        _, texts = sample_seeds(model, tokenizer, ids, memory, [cfg["seed"] + i for i in range(cfg["num_seeds"])], cfg)
        out["hits"] = sum(first_word_hit(t, fact["answer"]) for t in texts)
        out["anywhere"] = sum(fact["answer"] in t for t in texts)
        out["example"] = texts[0][:80]
    return out


@torch.no_grad()
def plain_perplexity(model, ids, memory, bos=(), window=128):
    """Perplexity of a text under the model, read in windows of `window` tokens (each its own prompt, after bos, the
    tokens a sequence starts with: with chunk retrieval each window chooses its own chunks from its own tokens)."""
    nll, count = 0.0, 0
    for lo in range(0, len(ids) - 1, window):
        x = torch.tensor([list(bos) + ids[lo:lo + window + 1]], device=next(model.parameters()).device)
        logits = model(x[:, :-1], memory=with_chunks(model, x[:, :-1], memory))[:, len(bos):]
        nll += float(torch.nn.functional.cross_entropy(logits[0].float(), x[0, len(bos) + 1:], reduction="sum"))
        count += x.shape[1] - 1 - len(bos)
    return math.exp(nll / count)


def run(cfg, model, tokenizer, done):
    """Runs the benchmark; yields one record per (n, condition, fact). done: {record key: record} already run."""
    settings = MemorySettings.of(cfg)
    facts = load_facts(cfg["facts_split"])[:cfg["num_facts"] or None]
    enc = tokenizer.encode
    neighbour_base, own = {}, {}
    for fact in facts:
        ids = tokenizer.prompt(fact["neighbour"])
        neighbour_base[fact["question"]] = answer_score(model, ids, answer_ids(tokenizer, fact["neighbour"],
                                                                              fact["answer"]))["answer_logp"]
        own[fact["question"]] = own_answers(model, tokenizer, fact)
    run_settings = [RECORD_VERSION] + [cfg.get(k) for k in sorted(RUN_KEYS)]
    base_key, settings_key = digest(run_settings), digest(run_settings + [vars(settings)])  # no memory; the method
    sampled = set(range(cfg["sample_facts"] if cfg["sample_facts"] else len(facts))) if cfg["num_seeds"] else set()
    ppl_done = set()  # the n whose unrelated-text perplexity is measured (with the first memory of n facts)
    for n in cfg["fact_counts"]:
        prose = cfg["distractors"] == "prose"
        label = f"{n}+prose" if prose else n  # in record keys: the memory's n and what fills it up
        for held_texts, held in stores_for(facts, n, cfg["seed"], cfg["facts_split"] if prose else None):
            for condition in cfg["conditions"]:
                if condition in ("question", "in_context") and n != cfg["fact_counts"][0]:
                    continue  # the same whatever the memory holds: run once
                if condition in ("all_in_context", "bm25") and n == 1:
                    continue  # with one paragraph both are the paragraph in the context: in_context
                checked = condition in ("method", "bm25_checked")  # results that depend on the method's settings
                keys = {i: f"{settings_key if checked else base_key}|{label}|{condition}|"
                           f"{facts[i]['question']}" for i in held}
                todo = [i for i in held if keys[i] not in done]
                yield from (done[keys[i]] for i in held if keys[i] in done)
                ppl_key = f"{settings_key}|{label}|plain_perplexity"
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
                elif condition in ("bm25", "bm25_checked"):
                    best = {(i, key): b for key in ("question", "paraphrase", "neighbour")
                            for i, b in zip(todo, bm25_best(held_texts, [facts[i][key] for i in todo]))}
                    placed = {ik: condition == "bm25" or passes_check(model, tokenizer, facts[ik[0]][ik[1]],
                                                                       held_texts[b], settings)
                              for ik, b in best.items()}
                    before = lambda i, key: held_texts[best[i, key]] if placed[i, key] else ""
                elif condition == "method":
                    memory = open_memory(model, tokenizer, settings, device=cfg["device"],
                                         store=method_store(model, tokenizer, held_texts, settings, cfg))
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
                    return ids, with_chunks(model, torch.tensor([ids], device=cfg["device"]), memory)

                for i in todo:
                    fact = facts[i]
                    record = dict(key=keys[i], n=n, condition=condition, fact=fact["question"], answer=fact["answer"],
                                  kind=fact["kind"])
                    record.update(score_fact(model, tokenizer, fact, lambda key: prompt(key, i), cfg,
                                             neighbour_base[fact["question"]], own[fact["question"]],
                                             sample=i in sampled))
                    right = held_texts.index(fact["memory"])
                    if condition in ("bm25", "bm25_checked"):
                        record["right_text"] = best[i, "question"] == right
                    elif "question_chunks" in record:
                        _, starts, _ = memory.store.chunks(settings.chunk_by, settings.chunk_size)
                        record["right_text"] = int(memory.store.text_ids[starts[record["question_chunks"][0]]]) == right
                    yield record


RECORD_VERSION = 2  # what a record holds: 2 = with the knowledge-editing scores (older records are run again)
RUN_KEYS = ("init_from", "facts_split", "num_seeds", "sample_facts", "seed", "max_new_tokens", "temperature",
            "top_k", "bookkeeping_token", "memory_mode", "index", "kv", "kv_dtype")


def method_store(model, tokenizer, texts, settings, cfg):
    """The method's store of these texts: in RAM, or (stores_dir, 1,000 texts and more) the one on disk built for
    the same texts, model and store settings, built there first if there is none."""
    settings = for_model(settings, model)
    layers = store_layers_for(settings, cfg["kv"])
    how = dict(bookkeeping_token=settings.bookkeeping_token, index=cfg["index"], kv_dtype=cfg["kv_dtype"], kv=cfg["kv"])
    if not cfg["stores_dir"] or len(texts) < 1000:
        return build_store(model, tokenizer, texts, layers, progress=len(texts) > 100, **how)
    fingerprint = getattr(model, "fingerprint", None) or weights_fingerprint(model)
    path = Path(cfg["stores_dir"]) / f"{Path(model.name).name}-{len(texts)}-{digest([texts, layers, how, fingerprint])}"
    if (path / disk.MANIFEST).is_file():
        return disk.load_store(path)
    return disk.build_on_disk(path, model, tokenizer, texts, layers, **how)


def summarize(records, cfg):
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
            share = lambda test: sum(map(test, rs)) / len(rs)  # the knowledge-editing scores (module docstring)
            row.update(efficacy=share(lambda r: r["question_answer_logp"] > r["question_own_logp"]),
                       paraphrase_success=share(lambda r: r["paraphrase_answer_logp"] > r["paraphrase_own_logp"]),
                       # >=: where the model's own answer to the neighbour is the fact's answer, nothing can leak
                       neighbourhood_success=share(lambda r: r["neighbour_own_logp"] >= r["neighbour_answer_logp"]),
                       greedy_hit=share(lambda r: r["question_greedy_hit"]),
                       paraphrase_greedy_hit=share(lambda r: r["paraphrase_greedy_hit"]))
            if "right_text" in rs[0]:
                row["right_text"] = sum(r["right_text"] for r in rs) / len(rs)
            if condition == "method" and n in ppl:  # unrelated text's perplexity with the memory / without
                row["plain_ppl_ratio"] = ppl[n]["with_memory"] / ppl[n]["without"]
            rows.append(row)
    return rows


def plot(rows, records, cfg, out):
    """Recall (first-word hit rate, or teacher-forced top-1 without sampling) against n, one line per condition."""
    metric = "hit_rate" if rows and all("hit_rate" in r for r in rows) else "top1"
    plot_rates(rows, "n", metric, "facts in the memory (n)",
               "first-word hit rate over seeds" if metric == "hit_rate" else "answer is the top token",
               cfg["title"] or f"facts ({cfg['facts_split']}): {cfg['init_from']}, {cfg['num_seeds']} seeds per fact",
               out / "facts.png")

"""
Issue 19's analysis of the relevance decision: does a prompt read a memory text at all? For one model, on the dev
and the test split, the chooser's score (mtm.method.chunks.choose_chunks: late interaction of the recall setting's layers and
heads) of every question, paraphrase and neighbour question of the fact benchmark against every text of one store
that holds the split's facts and real prose (data/prose/, a text a line), and of reference prompts (the first words
of other prose texts, in no store) against the same texts. From those scores, each candidate decision:

    raw           s(q, c)                                   (the old gate: chunk_min_score on it)
    prompt        s(q, c) - r_q,  r_q = mean of q's HUB_K best scores over background prose texts
    chunk         s(q, c) - r_c,  r_c = mean of c's HUB_K best scores over the reference prompts (built in since:
                  chunk_hub_k, memory.chunk_typical; this script scores the raw chooser, chunk_hub_k = 0)
    csls          s(q, c) - r_q - r_c                       (CSLS, Conneau et al. 2018, for late interaction)
    rare_overlap  memory.rare_overlap of q with its chooser's choice (the relevance check, chunk_min_overlap)
    rare_overlap^p  the same with each token's rarity to the power p (chunk_rarity_power), p in POWERS
    word_overlap  the same rule on lower-cased words instead of tokens
    ngram_overlap the check on the character 4-grams of the words, cubed (chunk_overlap_by='char_ngrams', the
                  recall settings' check; n and power chosen by dev/ngram_check.py)
    logistic      a logistic regression on raw, prompt, rare_overlap and word_overlap, fitted on dev

Each threshold is fitted on dev (at most 1 in 10 neighbour questions, about a similar entity, reads its look-alike
fact) and applied unchanged to test. Printed, a markdown table: for n = 1 (the fact alone) the share of questions,
paraphrases and neighbours that read their fact; for the whole store (facts + prose), how often the chosen text is
the fact, and how often it is the fact and passes. Scores are cached in out/relevance/ (delete to score again).

    python dev/relevance.py smollm2
    python dev/relevance.py gemma3
    python dev/relevance.py gemma3 long    # the store also holds LONG_TEXTS long texts (hubs?)
    python dev/relevance.py powers         # both models, then chunk_rarity_power chosen on their dev reads

With `long`, the store also holds LONG_TEXTS texts of facts.LONG_WORDS words and more (consecutive paragraphs of the
split's prose, joined: about 500-1,000 tokens each, where a fact takes 30): where a chunk's score is its tokens'
best matches, a long chunk has more chances of a high one and may be chosen for many prompts (a hub).
"""
import functools
import math
import random
import re
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F_

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from configurator import template  # noqa: E402
from mtm.entry import open_memory  # noqa: E402
from mtm.loading import load_model as load_once, model_facts  # noqa: E402
from mtm.method.chunks import choose_chunks, chooser_queries  # noqa: E402
from mtm.method.relevance import RARITY_TEXT, ngram_rarity, rare_overlap, token_rarity  # noqa: E402
from mtm.method.settings import MemorySettings, with_facts  # noqa: E402
from mtm.storage import knn  # noqa: E402
from mtm.storage.reading import build_store  # noqa: E402
from mtm.tasks.fact_data import LONG_SHARE, load_facts, prose_distractors  # noqa: E402

PROSE_IN_STORE = 1000   # prose paragraphs in the store beside the facts
BACKGROUND = 200        # prose paragraphs scored for r_q (not in the store)
REFERENCE_PROMPTS = 200  # prose openings scored for r_c
HUB_K = 10
load_model = functools.lru_cache(maxsize=1)(load_once)  # the overlaps of every power: one load
POWERS = (2, 3, 4, 6)  # chunk_rarity_power tried beside 1
LONG_TEXTS = PROSE_IN_STORE // (LONG_SHARE - 1)  # 100: prose_distractors' share of long texts
NGRAM, NGRAM_POWER = 4, 3  # ngram_overlap: the check on character 4-grams, cubed (chosen by dev/ngram_check.py)
KEYS = ("question", "paraphrase", "neighbour")
NEIGHBOUR_QUANTILE = 0.9  # a threshold passes at most this share of dev neighbour questions against their look-alike


def recall_setting(model_name):
    """The model's recall setting, the settings it leaves None (bookkeeping token, chooser) the model's."""
    return with_facts(template(ROOT / "config" / model_name / "recall_setting.py"), model_facts(model_name))


def opening(text, words=12):
    return "\n" + " ".join(text.split()[:words])


@torch.no_grad()
def score_all(model, tokenizer, store, settings, prompts):
    """[P, C] the chooser's score of every prompt against every chunk of the store (which holds the chooser's
    layers alone: the memory's layers are those, so that it fits the store)."""
    C = len(store.chunks(settings.chunk_by, settings.chunk_size)[1])
    chooser_only = [k if layer in settings.chunk_layers else 0 for layer, k in enumerate(settings.knn_num)]
    memory = open_memory(model, tokenizer, replace(settings, chunk_select=C, chunk_hub_k=0, knn_num=chooser_only),
                         store=store)  # every chunk's raw score, best first
    out = torch.full((len(prompts), C), float("nan"))
    chunk_of = store.chunks(settings.chunk_by, settings.chunk_size)[0]
    positions = []  # per prompt [Q, C]: each query's best match in each chunk (the chooser's score is their mean)
    for i, text in enumerate(prompts):
        ids = torch.tensor([tokenizer.prompt(text)])
        choice = choose_chunks(model, ids, memory)  # a Choice: every chunk, best first
        out[i, choice.chosen[0]] = choice.scores[0].float()
        positions.append(torch.cat([knn.torch_chunk_best(store.head_keys(layer, kv), chunk_of, C, q)[0]
                                    for layer, kv, q in chooser_queries(model, ids, settings, store.meta["n_head"])]))
        assert torch.allclose(positions[-1].mean(0), out[i], atol=1e-4)
    assert not out.isnan().any()
    return out, positions


def prose_parts(split, long=False):
    """The split's prose (data/prose/, shuffled once): the store's (with `long`, LONG_TEXTS long texts after them:
    facts.prose_distractors), the background texts, the reference prompts."""
    lines = (ROOT / "data" / "prose" / f"{split}.txt").read_text().splitlines()
    prose = list(lines)
    random.Random(0).shuffle(prose)  # modules mixed: the file is in module order, as prose_distractors shuffles it
    rest = prose[PROSE_IN_STORE + BACKGROUND:]
    in_store = prose_distractors(split, PROSE_IN_STORE + LONG_TEXTS) if long else prose[:PROSE_IN_STORE]
    return (in_store, prose[PROSE_IN_STORE:PROSE_IN_STORE + BACKGROUND],
            [opening(t) for t in rest[:REFERENCE_PROMPTS]])


def scores(model_name, split, long=False):
    path = ROOT / "out" / "relevance" / f"{model_name}-{split}{'-long' if long else ''}.pt"
    if path.is_file():
        return torch.load(path)
    facts = load_facts(split)
    in_store, background, reference = prose_parts(split, long)
    cfg = recall_setting(model_name)
    settings = MemorySettings.of(cfg | dict(chunk_min_score=None, chunk_min_overlap=None))  # every score, unchecked
    model, tokenizer = load_model(model_name)
    texts = [f["memory"] for f in facts] + in_store
    everything = dict(  # the chooser's layers are all it scores with
        store=build_store(model, tokenizer, texts, settings.chunk_layers, cfg["bookkeeping_token"]),
        background=build_store(model, tokenizer, background, settings.chunk_layers, cfg["bookkeeping_token"]))
    prompts = [f[k] for k in KEYS for f in facts] + reference
    print(f"scoring {len(prompts)} prompts against {len(texts)} + {len(background)} texts")
    s, s_pos = score_all(model, tokenizer, everything["store"], settings, prompts)
    b, b_pos = score_all(model, tokenizer, everything["background"], settings, prompts)
    F = len(facts)
    result = dict(facts=F, store=s, background=b, store_positions=s_pos, background_positions=b_pos,
                  lengths=torch.tensor([len(tokenizer.encode(t)) for t in texts]))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, path)
    return result


def overlaps(model_name, split, r, power=1.0, long=False, ngram=None):
    """rare_overlap of each question, paraphrase and neighbour [3F] with its own fact and with its chosen text,
    counted on tokens or (ngram = n) on the character n-grams of the words (chunk_overlap_by='char_ngrams')."""
    facts = load_facts(split)
    model, tokenizer = load_model(model_name)
    settings = MemorySettings.of(recall_setting(model_name))
    rarity = token_rarity(tokenizer, model.config.vocab_size) if ngram is None else ngram_rarity(tokenizer, ngram)
    prompts = [f[k] for k in KEYS for f in facts]
    texts = [f["memory"] for f in facts] + prose_parts(split, long)[0]
    ids = [torch.tensor(tokenizer.encode(t)) for t in texts]
    starts = torch.cumsum(torch.tensor([0] + [len(x) for x in ids[:-1]]), 0).tolist()
    token_ids, lengths = torch.cat(ids), [len(x) for x in ids]
    own = torch.arange(len(prompts)) % len(facts)
    best = r["store"][:len(prompts)].argmax(1)
    out = []
    for i, text in enumerate(prompts):
        prompt = torch.tensor([tokenizer.prompt(text)])[:, settings.chunk_skip:]
        out.append(rare_overlap(prompt, torch.tensor([[own[i], best[i]]]), token_ids, starts, lengths, rarity,
                                power)[0])
    return torch.stack(out)  # [3F, 2]: own fact, chosen text


def words(text):
    """A text's distinct lower-cased words, a possessive 's dropped."""
    return {w[:-2] if w.endswith("'s") else w for w in re.findall(r"[a-z0-9][a-z0-9'-]*", text.lower())}


def word_overlaps(split, long=False):
    """rare_overlap's rule on words instead of tokens (idf over the same prose): [3F, 2], own fact and chosen text."""
    corpus = RARITY_TEXT.read_text().splitlines()
    df = Counter(w for text in corpus for w in words(text))
    idf = lambda w: math.log((len(corpus) + 1) / (df[w] + 0.5))
    facts = load_facts(split)
    texts = [f["memory"] for f in facts] + prose_parts(split, long)[0]
    share = lambda prompt, text: (sum(idf(w) for w in words(prompt) & words(text)) /
                                  sum(idf(w) for w in words(prompt)))
    return lambda best: torch.tensor([[share(f[k], f["memory"]), share(f[k], texts[b])]
                                      for k in KEYS for f, b in zip(facts, best[KEYS.index(k) * len(facts):])])


def fit_logistic(x, y, steps=200):
    """Logistic regression of y [N] (0/1) on standardised features x [N, k], L2 1e-3, LBFGS: the scoring function."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    w, b = torch.zeros(x.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps)

    def loss():
        opt.zero_grad()
        value = F_.binary_cross_entropy_with_logits((x - mean) / std @ w + b, y) + 1e-3 * (w ** 2).sum()
        value.backward()
        return value
    opt.step(loss)
    return lambda z: ((z - mean) / std @ w + b).detach()


def decisions(runs):
    """Each candidate decision's value per split: [3F, C] (a score of every text: the best is chosen by it) or
    [3F, 2] (a check of the chooser's choice: own fact, chosen text). The logistic regression (raw score,
    prompt-normalised score, token and word overlap) is fitted on dev's questions against its neighbours."""
    out = {}
    for split, r in runs.items():
        F, s, b = r["facts"], r["store"], r["background"]
        P = 3 * F
        prompt_typical = b[:P].topk(HUB_K, dim=1).values.mean(1)   # r_q [3F]
        chunk_typical = s[P:].topk(HUB_K, dim=0).values.mean(0)    # r_c [C], over the reference prompts
        s = s[:P]
        best = s.argmax(1)
        own = torch.arange(P) % F
        pick = lambda m: torch.stack([m[torch.arange(P), own], m[torch.arange(P), best]], 1)  # [3F, 2]
        normalised = s - prompt_typical[:, None]
        out[split] = dict(raw=s, prompt=normalised, chunk=s - chunk_typical[None],
                          csls=s - prompt_typical[:, None] - chunk_typical[None], rare_overlap=r["overlap"],
                          **{f"rare_overlap^{p}": r[f"overlap^{p}"] for p in POWERS},
                          word_overlap=r["word_overlap"], ngram_overlap=r["ngram_overlap"],
                          features=torch.stack([pick(s), pick(normalised), r["overlap"], r["word_overlap"]], -1))
    F = runs["dev"]["facts"]
    x = out["dev"]["features"][:, 0]                               # [3F, 4] against the own fact
    y = torch.cat([torch.ones(F), torch.zeros(F)])
    score = fit_logistic(torch.cat([x[:F], x[2 * F:]]), y)
    for d in out.values():
        d["logistic"] = score(d.pop("features"))                 # [3F, 2]
    return out


def rates(r, d, name, threshold):
    """n = 1: questions, paraphrases, neighbours whose own fact passes; the store: question / paraphrase whose
    chosen text (raw score's best; CSLS variants: their own best) is the fact and passes."""
    F = r["facts"]
    own = torch.arange(F)
    if d.shape[1] == 2:  # a check on the chooser's choice, not a score to choose by
        single = [d[k * F:(k + 1) * F, 0] for k in range(3)]
        chosen = [r["store"][k * F:(k + 1) * F].argmax(1) == own for k in range(2)]
        value = [d[k * F:(k + 1) * F, 1] for k in range(2)]
    else:
        single = [d[k * F:(k + 1) * F][own, own] for k in range(3)]
        chosen = [d[k * F:(k + 1) * F].argmax(1) == own for k in range(2)]
        value = [d[k * F:(k + 1) * F].max(1).values for k in range(2)]
    n1 = [(x >= threshold).float().mean().item() for x in single]
    store = [(c & (v >= threshold)).float().mean().item() for c, v in zip(chosen, value)]
    right = [c.float().mean().item() for c in chosen]
    return n1, store, right


def analyse(model_name, long=False):
    runs = {}
    for split in ("dev", "test"):
        r = scores(model_name, split, long)
        if "overlap" not in r or any(f"overlap^{p}" not in r for p in POWERS) or "ngram_overlap" not in r:
            r["overlap"] = overlaps(model_name, split, r, long=long)
            r.update({f"overlap^{p}": overlaps(model_name, split, r, p, long) for p in POWERS})
            r["ngram_overlap"] = overlaps(model_name, split, r, NGRAM_POWER, long, NGRAM)
            torch.save(r, ROOT / "out" / "relevance" / f"{model_name}-{split}{'-long' if long else ''}.pt")
        r["word_overlap"] = word_overlaps(split, long)(r["store"][:3 * r["facts"]].argmax(1).tolist())
        runs[split] = r
    values = decisions(runs)
    F = runs["dev"]["facts"]
    print(f"\n{model_name}: thresholds fitted on dev (at most 1 in 10 neighbour questions reads its look-alike fact), "
          f"applied unchanged to test; store: the split's facts + {PROSE_IN_STORE} prose texts"
          f"{f' + {LONG_TEXTS} long texts' if long else ''}\n")
    print("| decision | threshold (dev) | split | n = 1: questions / paraphrases / neighbours read | store: right text "
          "chosen (q / p) | store: chosen and read (q / p) |")
    print("| --- | ---: | --- | --- | --- | --- |")
    own = torch.arange(F)
    dev_reads = {}  # decision -> (threshold, dev questions read, dev paraphrases read) at n = 1
    for name, d in values["dev"].items():
        neighbours = d[2 * F:3 * F, 0] if d.shape[1] == 2 else d[2 * F:3 * F][own, own]
        threshold = neighbours.quantile(NEIGHBOUR_QUANTILE).item()
        for split in ("dev", "test"):
            n1, store, right = rates(runs[split], values[split][name], name, threshold)
            if split == "dev":
                dev_reads[name] = (threshold, n1[0], n1[1])
            print(f"| {name} | {threshold:.3f} | {split} | {' / '.join(f'{x:.3f}' for x in n1)} | "
                  f"{' / '.join(f'{x:.3f}' for x in right)} | {' / '.join(f'{x:.3f}' for x in store)} |")
    for split, r in runs.items():  # hubs: texts that many questions choose
        chosen = r["store"][:r["facts"]].argmax(1)
        print(f"\n{split}: the most chosen text is chosen by {torch.bincount(chosen).max().item()} of {r['facts']} "
              f"questions; "
              f"chosen texts' median length {r['lengths'][chosen].median().item()} tokens (all texts' "
              f"{r['lengths'].median().item()})")
        if long:
            first_long = len(r["lengths"]) - LONG_TEXTS
            print(f"{split}: questions choosing a long text {(chosen >= first_long).sum().item()} of {r['facts']}; "
                  f"long texts' lengths {r['lengths'][first_long:].min().item()}-"
                  f"{r['lengths'][first_long:].max().item()} tokens")
    return dev_reads


def choose_power(models=("smollm2", "gemma3")):
    """chunk_rarity_power for every model at once: the power whose check reads the most dev questions + paraphrases
    at n = 1, summed over the models (each with its own threshold, fitted on dev as above)."""
    reads = {m: analyse(m) for m in models}
    print(f"\n| power | {' | '.join(f'{m}: threshold, dev q / p read' for m in models)} | sum |")
    print("| ---: |" + " --- |" * len(models) + " ---: |")
    total = {}
    for p in (1, *POWERS):
        name = "rare_overlap" if p == 1 else f"rare_overlap^{p}"
        total[p] = sum(reads[m][name][1] + reads[m][name][2] for m in models)
        cells = " | ".join(f"{t:.3f}, {q:.3f} / {para:.3f}" for t, q, para in (reads[m][name] for m in models))
        print(f"| {p} | {cells} | {total[p]:.3f} |")
    print(f"\nchosen: chunk_rarity_power = {max(total, key=total.get)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["powers"]:
        choose_power()
    elif len(sys.argv) not in (2, 3) or sys.argv[1] not in ("smollm2", "gemma3") or sys.argv[2:] not in ([], ["long"]):
        sys.exit("usage: python dev/relevance.py smollm2|gemma3 [long] | powers")
    else:
        analyse(sys.argv[1], long=len(sys.argv) == 3)

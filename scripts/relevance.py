"""
Issue 19's analysis of the relevance decision: does a prompt read a memory text at all? For one model, on the dev
and the test split, the chooser's score (memory.choose_chunks: late interaction of the recall setting's layers and
heads) of every question, paraphrase and neighbour question of the fact benchmark against every text of one store
that holds the split's facts and real prose (data/prose/, a text a line), and of reference prompts (the first words
of other prose texts, in no store) against the same texts. From those scores, each candidate decision:

    raw           s(q, c)                                   (the old gate: chunk_min_score on it)
    prompt        s(q, c) - r_q,  r_q = mean of q's HUB_K best scores over background prose texts
    chunk         s(q, c) - r_c,  r_c = mean of c's HUB_K best scores over the reference prompts
    csls          s(q, c) - r_q - r_c                       (CSLS, Conneau et al. 2018, for late interaction)
    rare_overlap  memory.rare_overlap of q with its chooser's choice (the relevance check, chunk_min_overlap)

Each threshold is fitted on dev (at most 1 in 10 neighbour questions, about a similar entity, reads its look-alike
fact) and applied unchanged to test. Printed, a markdown table: for n = 1 (the fact alone) the share of questions,
paraphrases and neighbours that read their fact; for the whole store (facts + prose), how often the chosen text is
the fact, and how often it is the fact and passes. Scores are cached in out/relevance/ (delete to score again).

    python scripts/relevance.py smollm2
    python scripts/relevance.py gemma3
"""
import random
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from facts import load_facts  # noqa: E402
from loading import load_model  # noqa: E402
import knn  # noqa: E402
from memory import Memory, MemorySettings, choose_chunks, chooser_queries, rare_overlap  # noqa: E402
from reading import build_store, token_rarity  # noqa: E402

PROSE_IN_STORE = 1000   # prose paragraphs in the store beside the facts
BACKGROUND = 200        # prose paragraphs scored for r_q (not in the store)
REFERENCE_PROMPTS = 200  # prose openings scored for r_c
HUB_K = 10
KEYS = ("question", "paraphrase", "neighbour")


def recall_setting(model_name):
    cfg = {}
    exec((ROOT / "config" / model_name / "recall_setting.py").read_text(), cfg)
    return {k: v for k, v in cfg.items() if not k.startswith("__")}


def opening(text, words=12):
    return "\n" + " ".join(text.split()[:words])


@torch.no_grad()
def score_all(model, tokenizer, store, settings, prompts):
    """[P, C] the chooser's score of every prompt against every chunk of the store."""
    C = len(store.chunks(settings.chunk_by, settings.chunk_size)[1])
    memory = Memory(store, replace(settings, chunk_select=C))  # every chunk's score, best first
    out = torch.full((len(prompts), C), float("nan"))
    chunk_of = store.chunks(settings.chunk_by, settings.chunk_size)[0]
    positions = []  # per prompt [Q, C]: each query's best match in each chunk (the chooser's score is their mean)
    for i, text in enumerate(prompts):
        ids = torch.tensor([tokenizer.prompt(text)])
        chosen = choose_chunks(model, ids, memory)
        out[i, chosen.chosen[0]] = chosen.scores[0].float()
        positions.append(torch.cat([knn.torch_chunk_best(store.head_keys(layer, kv), chunk_of, C, q)[0]
                                    for layer, kv, q in chooser_queries(model, ids, settings, store.meta["n_head"])]))
        assert torch.allclose(positions[-1].mean(0), out[i], atol=1e-4)
    assert not out.isnan().any()
    return out, positions


def prose_parts(split):
    """The split's prose (data/prose/, shuffled once): the store's, the background texts, the reference prompts."""
    prose = (ROOT / "data" / "prose" / f"{split}.txt").read_text().splitlines()
    random.Random(0).shuffle(prose)  # modules mixed: the file is in module order
    rest = prose[PROSE_IN_STORE + BACKGROUND:]
    return (prose[:PROSE_IN_STORE], prose[PROSE_IN_STORE:PROSE_IN_STORE + BACKGROUND],
            [opening(t) for t in rest[:REFERENCE_PROMPTS]])


def scores(model_name, split):
    path = ROOT / "out" / "relevance" / f"{model_name}-{split}.pt"
    if path.is_file():
        return torch.load(path)
    facts = load_facts(split)
    in_store, background, reference = prose_parts(split)
    cfg = recall_setting(model_name)
    settings = MemorySettings.of(cfg | dict(chunk_min_score=None))
    model, tokenizer = load_model(model_name)
    texts = [f["memory"] for f in facts] + in_store
    everything = dict(
        store=build_store(model, tokenizer, texts, settings.store_layers, cfg["bookkeeping_token"]),
        background=build_store(model, tokenizer, background, settings.store_layers, cfg["bookkeeping_token"]))
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


def overlaps(model_name, split, r):
    """rare_overlap of each question, paraphrase and neighbour [3F] with its own fact and with its chosen text."""
    facts = load_facts(split)
    model, tokenizer = load_model(model_name)
    settings = MemorySettings.of(recall_setting(model_name))
    rarity = token_rarity(tokenizer, model.config.vocab_size)
    prompts = [f[k] for k in KEYS for f in facts]
    texts = [f["memory"] for f in facts] + prose_parts(split)[0]
    ids = [torch.tensor(tokenizer.encode(t)) for t in texts]
    starts = torch.cumsum(torch.tensor([0] + [len(x) for x in ids[:-1]]), 0).tolist()
    token_ids, lengths = torch.cat(ids), [len(x) for x in ids]
    own = torch.arange(len(prompts)) % len(facts)
    best = r["store"][:len(prompts)].argmax(1)
    out = []
    for i, text in enumerate(prompts):
        prompt = torch.tensor([tokenizer.prompt(text)])[:, settings.chunk_skip:]
        out.append(rare_overlap(prompt, torch.tensor([[own[i], best[i]]]), token_ids, starts, lengths, rarity)[0])
    return torch.stack(out)  # [3F, 2]: own fact, chosen text


def decisions(r, overlap):
    """Each candidate decision's value [3F, C] (every text) or, for rare_overlap, [3F, 2] (own fact, chosen text)."""
    F, s, b = r["facts"], r["store"], r["background"]
    P = 3 * F
    prompt_typical = b[:P].topk(HUB_K, dim=1).values.mean(1)       # r_q [3F]
    chunk_typical = s[P:].topk(HUB_K, dim=0).values.mean(0)        # r_c [C], over the reference prompts
    s = s[:P]
    return dict(raw=s, prompt=s - prompt_typical[:, None], chunk=s - chunk_typical[None],
                csls=s - prompt_typical[:, None] - chunk_typical[None], rare_overlap=overlap)


def rates(r, d, name, threshold):
    """n = 1: questions, paraphrases, neighbours whose own fact passes; the store: question / paraphrase whose
    chosen text (raw score's best; CSLS variants: their own best) is the fact and passes."""
    F = r["facts"]
    own = torch.arange(F)
    if name == "rare_overlap":  # a check on the chooser's choice, not a score to choose by
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


def analyse(model_name):
    runs = {}
    for split in ("dev", "test"):
        r = scores(model_name, split)
        if "overlap" not in r:
            r["overlap"] = overlaps(model_name, split, r)
            torch.save(r, ROOT / "out" / "relevance" / f"{model_name}-{split}.pt")
        runs[split] = r, decisions(r, r["overlap"])
    F = runs["dev"][0]["facts"]
    print(f"\n{model_name}: thresholds fitted on dev (at most 1 in 10 neighbour questions reads its look-alike fact), "
          f"applied unchanged to test; store: the split's facts + {PROSE_IN_STORE} prose texts\n")
    print("| decision | threshold (dev) | split | n = 1: questions / paraphrases / neighbours read | store: right text "
          "chosen (q / p) | store: chosen and read (q / p) |")
    print("| --- | ---: | --- | --- | --- | --- |")
    for name in runs["dev"][1]:
        r, d = runs["dev"]
        own = torch.arange(F)
        nb = d[name][2 * F:3 * F, 0] if name == "rare_overlap" else d[name][2 * F:3 * F][own, own]
        threshold = nb.quantile(0.9).item()
        for split in ("dev", "test"):
            n1, store, right = rates(runs[split][0], runs[split][1][name], name, threshold)
            print(f"| {name} | {threshold:.3f} | {split} | {' / '.join(f'{x:.3f}' for x in n1)} | "
                  f"{' / '.join(f'{x:.3f}' for x in right)} | {' / '.join(f'{x:.3f}' for x in store)} |")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("smollm2", "gemma3"):
        sys.exit("usage: python scripts/relevance.py smollm2|gemma3")
    analyse(sys.argv[1])

"""
The fact benchmark (data/facts/): invented facts, each a short memory paragraph, a completion question, a
one-word answer, a paraphrased question and a neighbour question about another entity of the same kind.
The evaluation task that runs it is mtm/tasks/facts.py (`evaluate.py` mode 'facts', docs/results.md); the benchmark is
made by `python data/facts/prepare.py` (data/facts/README.md).

    facts = load_facts("dev")                       # list of dicts
    texts = memory_texts(facts, 1000, seed=0)       # the facts' paragraphs, then invented distractors
    texts = memory_texts(facts, 1282, prose="test")  # ... then real prose, long texts among it
    score = answer_score(model, prompt_ids, answer_ids, memory)   # teacher-forced: log p and rank
"""
import json
import random
from pathlib import Path

import torch

FACTS_DIR = Path(__file__).resolve().parents[2] / "data" / "facts"
GUESS_LOGP = -4.6  # log(0.01): a fact whose whole answer the model gives 1 % or more from the question alone is dropped
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


PROSE_DIR = Path(__file__).resolve().parents[2] / "data" / "prose"
LONG_WORDS = 400  # a long prose text: consecutive paragraphs joined to this many words or more
LONG_SHARE = 11   # prose distractors: one text in LONG_SHARE is long


def long_texts(lines, count, rng):
    """count texts of consecutive lines (paragraphs of one module or two), each joined to LONG_WORDS words or more."""
    out = []
    for start in rng.sample(range(len(lines)), count):
        text, i = lines[start], start + 1
        while len(text.split()) < LONG_WORDS:
            text, i = text + " " + lines[i % len(lines)], i + 1
        out.append(text)
    return out


def prose_distractors(split, n):
    """n texts of real prose of mixed lengths (data/prose/<split>.txt, Python's docstrings, PSF License): the split's
    paragraphs of 6-277 words in one fixed shuffled order, and n // LONG_SHARE long texts (500-800 tokens, where a
    fact takes about 30) after them. Distractors that look like real memories, hubs among them."""
    lines = (PROSE_DIR / f"{split}.txt").read_text(encoding="utf-8").splitlines()
    long = n // LONG_SHARE
    if n - long > len(lines):
        raise ValueError(f"{n} prose distractors: the {split} prose has {len(lines)} texts (and long ones, a tenth)")
    shuffled = list(lines)
    random.Random(0).shuffle(shuffled)  # modules mixed: the file is in module order
    return shuffled[:n - long] + long_texts(lines, long, random.Random(1))


def memory_texts(facts, n, seed=0, prose=None):
    """The texts of an n-fact memory: the benchmark's paragraphs (all of them when n >= len(facts)), then
    distractors up to n: invented facts, or (prose: a split's name) real prose (prose_distractors). Which facts
    and the order are fixed by seed."""
    rng = random.Random(seed)
    texts = [f["memory"] for f in facts]
    rng.shuffle(texts)
    fill = max(0, n - len(texts))
    return texts[:n] + (prose_distractors(prose, fill) if prose else distractors(fill, seed))


def stores_for(facts, n, seed=0, prose=None):
    """Memories of n facts that together hold every fact of the list: n = 1, each fact alone; n < len(facts),
    the list cut into groups of n (the last group filled up with other facts of the list); n >= len(facts),
    one memory with all of them and distractors (memory_texts; prose: real prose). Returns [(texts, [indices of
    facts held])]."""
    if n <= 1:
        return [([f["memory"]], [i]) for i, f in enumerate(facts)]
    if n >= len(facts):
        return [(memory_texts(facts, n, seed, prose), list(range(len(facts))))]
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

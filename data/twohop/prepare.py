"""
Makes the two-hop set (data/twohop/): questions whose answer needs two stored facts. The first fact puts an invented
person in an invented town (the bridge); the second says something about the town (its river, its mayor, its
ferry) whose answer is an invented name, so that nothing but the two facts can give it. The question names the
person, never the town:

    first:    The weaver Halvard Quennimore lives in the town of Dunsmarrow, above a bakery.
    second:   The river Ostvel flows through the town of Dunsmarrow.
    question: The town where the weaver Halvard Quennimore lives lies on the river      -> Ostvel

Every name is drawn once in the whole set (deterministic); dev and test share no entity. Run once:

    python data/twohop/prepare.py        # writes data/twohop/dev.jsonl and test.jsonl
"""
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from mtm.tasks.fact_data import WORDS

OUT = Path(__file__).resolve().parent
SEED = 19
PER_SPLIT = 30
ONSETS = ("br", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "qu", "r", "s", "t", "v", "w", "z", "th", "sk")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou")
CODAS = ("", "n", "r", "l", "s", "m", "nd", "rk", "st", "ll")
FIRST = ("The {job} {person} lives in the town of {town}, above a bakery.",
         "The {job} {person} moved to the town of {town} last year and has lived there since.")
SECOND = dict(
    river=("The river {answer} flows through the town of {town}.",
           "\nThe town where the {job} {person} lives lies on the river"),
    mayor=("The mayor of {town} is {answer}, elected last spring.",
           "\nThe mayor of the town where the {job} {person} lives is"),
    ferry=("The ferry that sails from {town} is called the {answer}.",
           "\nThe ferry that sails from the town where the {job} {person} lives is called the"),
)


def names(rng):
    """Distinct invented words of two or three syllables, capitalised."""
    seen = set()
    while True:
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                       for _ in range(rng.choice((2, 3)))).capitalize()
        if word not in seen and len(word) <= 12:
            seen.add(word)
            yield word


def make(rng):
    new = names(rng)
    items = []
    for i in range(2 * PER_SPLIT):
        kind = list(SECOND)[i % len(SECOND)]
        fields = dict(job=rng.choice(WORDS["job"]), person=f"{next(new)} {next(new)}", town=next(new),
                      answer=next(new))
        second, question = SECOND[kind]
        items.append(dict(kind=kind, first=rng.choice(FIRST).format(**fields), second=second.format(**fields),
                          question=question.format(**fields), answer=fields["answer"], bridge=fields["town"]))
    rng.shuffle(items)
    return dict(dev=items[:PER_SPLIT], test=items[PER_SPLIT:])


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for split, items in make(random.Random(SEED)).items():
        (OUT / f"{split}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in items), encoding="utf-8")
        print(f"{OUT / split}.jsonl: {len(items)} questions")

"""
What the relevance check should count (docs/METHOD.md step 3a, chunk_overlap_by), on the fact benchmark: each
question, paraphrase and neighbour question against its own fact (n = 1), the share of its rarity the fact holds
(memory.rare_overlap), counted on

    tokens        the prompt's distinct tokens, each weighed by its idf over real prose (reading.token_rarity):
                  per model, as each tokenizer cuts the words
    char_ngrams   the character n-grams of its lower-cased words (reading.ngram_rarity), n in NS: the same for
                  every tokenizer, blind to how a name is cut into tokens at a line's start or after a space

each weight to the power p in POWERS. Then, on 4-grams cubed, an entity-aware variant (issue 19: "an entity-aware
check of the prompt's rarest tokens"): the share of each of the prompt's m rarest words (a word's rarity: the mean
idf of its 4-grams) that the fact holds, the least of them alone and mixed with the share, a x share + (1 - a) x
least. Each threshold is fitted on dev by relevance.py's rule (the 0.9 quantile of
dev's neighbour questions against their look-alike fact: at most 1 in 10 reads it) and applied unchanged to test.
Prints, per way, the share of questions / paraphrases / neighbours that pass on dev and on test, and the way that
passes the most dev questions + paraphrases summed over both models; last, the dev prompts the share decides
wrongly (those results.md's fifth part reads from). No model runs: tokenizers only.

    python dev/ngram_check.py
"""
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mtm.tasks.fact_data import load_facts
from mtm.loading import load_model
from mtm.method.settings import MemorySettings
from mtm.method.relevance import char_ngrams
from mtm.method.relevance import ngram_rarity, token_rarity
from mtm.tasks.facts import check_share
from relevance import KEYS, NEIGHBOUR_QUANTILE, recall_setting  # noqa: E402

NS, POWERS = (3, 4, 5), (1, 2, 3)
RAREST, MIXES = (1, 2, 3), (0.25, 0.5, 0.75)  # the entity-aware variant: m rarest words, a


def rarest_held(tokenizer, rarity, prompt, text, m, skip):
    """[m] for each of the prompt's m rarest words (as the method sees the prompt: positions skip..), the share of
    its n-grams' rarity cubed that the text holds."""
    words = set(re.findall(r"\w+", tokenizer.decode(tokenizer.prompt(prompt)[skip:]).lower()))
    grams = {w: char_ngrams(w, rarity.n) for w in words}
    idf = {w: [rarity.weight(g, 1) for g in gs] for w, gs in grams.items()}
    held = char_ngrams(tokenizer.decode(tokenizer.encode(text)), rarity.n)
    rarest = sorted(words, key=lambda w: (-sum(idf[w]) / len(idf[w]), w))[:m]  # ties by the word: a set's order
    # changes with PYTHONHASHSEED, and so would the table
    return [sum(rarity.weight(g, 3) for g in grams[w] if g in held) / sum(rarity.weight(g, 3) for g in grams[w])
            for w in rarest]


def shares(tokenizer, rarity, power, facts, skip):
    """[3, F] the share of each question, paraphrase and neighbour's rarity that its own fact holds."""
    return torch.tensor([[check_share(tokenizer, f[key], f["memory"], rarity, power, skip) for f in facts]
                         for key in KEYS])


def fit_and_read(score):
    """The relevance rule on {split: [3, F] scores}: the threshold passing 1 in 10 dev neighbours, and the share of
    questions / paraphrases / neighbours it passes on each split."""
    threshold = score["dev"][2].quantile(NEIGHBOUR_QUANTILE).item()
    return threshold, {split: (x >= threshold).float().mean(1).tolist() for split, x in score.items()}


def row(*cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def read_cells(read):
    return [" / ".join(f"{v:.3f}" for v in read[split]) for split in ("dev", "test")]


def wrong_on_dev(facts, share, threshold):
    """The dev prompts the share decides wrongly: questions and paraphrases turned away, neighbours let through."""
    return [(key, f"{v:.2f}", " ".join(f[key].split()), " ".join(f["memory"].split())[:70])
            for k, key in enumerate(KEYS) for f, v in zip(facts, share[k].tolist())
            if (v >= threshold) == (key == "neighbour")]


def entity_aware(model_name, tokenizer, splits, skip):
    """Prints the entity-aware variant's table for one tokenizer (4-grams, power 3); returns the share's dev misses."""
    rarity = ngram_rarity(tokenizer, 4)
    share = {split: shares(tokenizer, rarity, 3, facts, skip) for split, facts in splits.items()}
    share_threshold, read = fit_and_read(share)
    print(row(model_name, "the share (the method's)", f"{share_threshold:.3f}", *read_cells(read)))
    for m in RAREST:
        least = {split: torch.tensor([[min(rarest_held(tokenizer, rarity, f[key], f["memory"], m, skip))
                                       for f in facts] for key in KEYS]) for split, facts in splits.items()}
        threshold, read = fit_and_read(least)
        print(row(model_name, f"least held of the {m} rarest words", f"{threshold:.3f}", *read_cells(read)))
        for a in MIXES:
            threshold, read = fit_and_read({split: a * share[split] + (1 - a) * least[split] for split in splits})
            print(row(model_name, f"{a} x share + {1 - a} x least, {m} rarest", f"{threshold:.3f}",
                      *read_cells(read)), flush=True)
    return wrong_on_dev(splits["dev"], share["dev"], share_threshold)


def main():
    splits = {split: load_facts(split) for split in ("dev", "test")}
    print("| model | counted on | power | threshold (dev) | dev: q / p / n read | test: q / p / n read |")
    print("| --- | --- | ---: | ---: | --- | --- |")
    dev_sums, tokenizers = {}, {}
    for model_name in ("smollm2", "gemma3"):
        model, tokenizer = load_model(model_name)
        tokenizers[model_name] = tokenizer
        skip = MemorySettings.of(recall_setting(model_name)).chunk_skip
        ways = [("tokens", token_rarity(tokenizer, model.config.vocab_size))] + \
            [(f"char {n}-grams", ngram_rarity(tokenizer, n)) for n in NS]
        for name, rarity in ways:
            for power in POWERS:
                s = {split: shares(tokenizer, rarity, power, facts, skip) for split, facts in splits.items()}
                threshold, read = fit_and_read(s)
                dev_sums[name, power] = dev_sums.get((name, power), 0.0) + read["dev"][0] + read["dev"][1]
                print(row(model_name, name, power, f"{threshold:.3f}", *read_cells(read)), flush=True)
    print("\ndev questions + paraphrases read, summed over both models:")
    for (name, power), total in sorted(dev_sums.items(), key=lambda kv: -kv[1]):
        print(f"  {name}, power {power}: {total:.3f}")
    print("\nthe entity-aware variant, on 4-grams cubed (questions / paraphrases / neighbours read):\n")
    print(row("model", "decision", "threshold (dev)", "dev: q / p / n read", "test: q / p / n read"))
    print(row("---", "---", "---:", "---", "---"))
    misses = {model_name: entity_aware(model_name, tokenizer, splits,
                                       MemorySettings.of(recall_setting(model_name)).chunk_skip)
              for model_name, tokenizer in tokenizers.items()}
    print("\nthe dev prompts the share (4-grams cubed) decides wrongly, with their share and the start of their "
          "fact:\n")
    print(row("model", "prompt", "share", "prompt text", "fact"))
    print(row("---", "---", "---:", "---", "---"))
    for model_name, wrong in misses.items():
        for cells in wrong:
            print(row(model_name, *cells))


if __name__ == "__main__":
    main()

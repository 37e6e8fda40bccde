"""
What the relevance check should count (docs/METHOD.md step 3a, chunk_overlap_by), on the fact benchmark: each
question, paraphrase and neighbour question against its own fact (n = 1), the share of its rarity the fact holds
(memory.rare_overlap), counted on

    tokens        the prompt's distinct tokens, each weighed by its idf over real prose (reading.token_rarity):
                  per model, as each tokenizer cuts the words
    char_ngrams   the character n-grams of its lower-cased words (reading.ngram_rarity), n in NS: the same for
                  every tokenizer, blind to how a name is cut into tokens at a line's start or after a space

each weight to the power p in POWERS. Each threshold is fitted on dev by relevance.py's rule (the 0.9 quantile of
dev's neighbour questions against their look-alike fact: at most 1 in 10 reads it) and applied unchanged to test.
Prints, per way, the share of questions / paraphrases / neighbours that pass on dev and on test, and the way that
passes the most dev questions + paraphrases summed over both models. No model runs: tokenizers only.

    python scripts/ngram_check.py
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from facts import load_facts  # noqa: E402
from loading import load_model  # noqa: E402
from memory import MemorySettings  # noqa: E402
from reading import ngram_rarity, token_rarity  # noqa: E402
from tasks.facts import check_share  # noqa: E402
from relevance import KEYS, NEIGHBOUR_QUANTILE, recall_setting  # noqa: E402

NS, POWERS = (3, 4, 5), (1, 2, 3)


def shares(tokenizer, rarity, power, facts, skip):
    """[3, F] the share of each question, paraphrase and neighbour's rarity that its own fact holds."""
    return torch.tensor([[check_share(tokenizer, f[key], f["memory"], rarity, power, skip) for f in facts]
                         for key in KEYS])


def main():
    splits = {split: load_facts(split) for split in ("dev", "test")}
    print("| model | counted on | power | threshold (dev) | dev: q / p / n read | test: q / p / n read |")
    print("| --- | --- | ---: | ---: | --- | --- |")
    dev_sums = {}
    for model_name in ("smollm2", "gemma3"):
        model, tokenizer = load_model(model_name)
        skip = MemorySettings.of(recall_setting(model_name)).chunk_skip
        ways = [("tokens", token_rarity(tokenizer, model.config.vocab_size))] + \
            [(f"char {n}-grams", ngram_rarity(tokenizer, n)) for n in NS]
        for name, rarity in ways:
            for power in POWERS:
                s = {split: shares(tokenizer, rarity, power, facts, skip) for split, facts in splits.items()}
                threshold = s["dev"][2].quantile(NEIGHBOUR_QUANTILE).item()
                read = {split: (x >= threshold).float().mean(1).tolist() for split, x in s.items()}
                dev_sums[name, power] = dev_sums.get((name, power), 0.0) + read["dev"][0] + read["dev"][1]
                print(f"| {model_name} | {name} | {power} | {threshold:.3f} | "
                      + " | ".join(" / ".join(f"{v:.3f}" for v in read[split]) for split in ("dev", "test")) + " |",
                      flush=True)
    print("\ndev questions + paraphrases read, summed over both models:")
    for (name, power), total in sorted(dev_sums.items(), key=lambda kv: -kv[1]):
        print(f"  {name}, power {power}: {total:.3f}")


if __name__ == "__main__":
    main()

"""Sentiment (the paper's Table 1, Figs. 3-6): VADER over continuations of one prompt, without and with the
memory, over many seeds, at each sweep point; distinct n-grams and perplexity say what the steering costs."""
import torch

from configurator import ConfigError
from mtm.method.settings import Setting
from mtm.tasks.common import by_point, plot_points, plot_touched, sample_point, sweep, touched_row, with_keys

SETTINGS = dict(
    baseline=Setting(True, None, "also the model without memory"),
    perplexity=Setting(True, None, "perplexity of each continuation under the model without memory"),
)

_vader = None


def vader(text):
    """VADER's scores of a text: neg, neu, pos, compound (the analyser made once)."""
    global _vader
    if _vader is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        _vader = SentimentIntensityAnalyzer()
    return _vader.polarity_scores(text)


def distinct_n(ids, n):
    """Distinct n-grams over all n-grams of a continuation (1.0: no repetition)."""
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@torch.no_grad()
def perplexities(model, prompt_len, ids, rows=10):
    """Perplexity of each row's continuation (ids[:, prompt_len:]) under the model without memory.
    A few rows at a time: the logits of 100 rows x 100 tokens x 49k words would take gigabytes."""
    out = []
    for chunk in ids.split(rows):
        logits = model(chunk[:, :-1]).float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), chunk[:, 1:], reduction="none")
        out += nll[:, prompt_len - 1:].mean(dim=1).exp().tolist()
    return out


def quantile(xs, q):
    return float(torch.quantile(torch.tensor(xs, dtype=torch.float64), q)) if xs else float("nan")


def check(cfg):
    if (cfg["sweep_key"] or cfg["knn_num"]) and not cfg["memory"].strip():
        raise ConfigError("memory is empty")


def points(cfg, n_layer):
    out = [dict(name="no memory", condition="no_memory", method=None, memory_text=None)] if cfg["baseline"] else []
    out += [dict(name=label or "memory", condition="method", method=method, memory_text=cfg["memory"])
            for label, method in sweep(cfg, n_layer)]
    return with_keys(out, cfg)


def run(cfg, model, tokenizer, done):
    def score(texts, y, prompt_len):
        ppl = perplexities(model, prompt_len, y) if cfg["perplexity"] else [None] * len(texts)
        return [dict(vader(text), distinct_2=distinct_n(row[prompt_len:].tolist(), 2),
                     distinct_3=distinct_n(row[prompt_len:].tolist(), 3), perplexity=p)
                for text, row, p in zip(texts, y, ppl)]
    for point in points(cfg, model.config.n_layer):
        yield from sample_point(point, cfg, model, tokenizer, done, score)


def summarize(records, cfg):
    rows = []
    for name, runs in by_point(records).items():
        c = [r["scores"]["compound"] for r in runs]
        row = dict(point=name, condition=runs[0]["condition"], n=len(runs), compound_median=quantile(c, 0.5),
                   compound_iqr=quantile(c, 0.75) - quantile(c, 0.25), compound_mean=sum(c) / len(c))
        for key in ("pos", "neu", "neg"):
            row[f"{key}_median"] = quantile([r["scores"][key] for r in runs], 0.5)
        for key in ("distinct_2", "distinct_3", "perplexity"):
            vals = [r["scores"][key] for r in runs if r["scores"].get(key) is not None]
            row[f"{key}_mean"] = sum(vals) / len(vals) if vals else None
        rows.append(row | touched_row(runs))
    return rows


def plot(rows, records, cfg, out):
    """VADER compound per point, a box each; and the share of token-heads changed per layer."""
    names, runs = [r["point"] for r in rows], by_point(records)

    def draw(ax):
        ax.boxplot([[r["scores"]["compound"] for r in runs[n]] for n in names], showfliers=True)
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="grey", lw=0.5)
    plot_points(names, draw, "VADER compound of the continuation", cfg["title"] or f"sentiment: {cfg['init_from']}, "
                f"{rows[0]['n']} seeds x {cfg['max_new_tokens']} tokens", out / "sentiment.png")
    plot_touched(rows, out / "touched_share.png")

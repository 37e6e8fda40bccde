"""Recall (the paper's Table 4, Figs. 8-13): does the continuation of a question begin with the answer, with the
question alone, the memory text in the context, or the memory; and with the answer substituted in the memory."""
from configurator import ConfigError
from mtm.method.settings import Setting
from mtm.tasks.common import by_point, first_word_hit, plot_points, plot_touched, sample_point, sweep, touched_row, with_keys

SETTINGS = dict(
    answer=Setting("Vancouver", None, "the word the continuation should begin with"),
    substitutes=Setting([], None, "also replace the answer in the memory text by each of these (paper Fig. 13)"),
)
CONDITIONS = ("question", "in_context", "method")


def check(cfg):
    if not cfg["memory"].strip():
        raise ConfigError("memory is empty")
    unknown = [c for c in cfg["conditions"] if c not in CONDITIONS]
    if unknown:
        raise ConfigError(f"recall mode: conditions must be among {', '.join(CONDITIONS)} (got {unknown})")


def points(cfg, n_layer):
    out = []
    texts = [(None, cfg["memory"])] + [(s, cfg["memory"].replace(cfg["answer"], s)) for s in cfg["substitutes"]]
    for sub, text in texts:
        tag = f" [{cfg['answer']}->{sub}]" if sub else ""
        if "question" in cfg["conditions"] and sub is None:
            out.append(dict(name="question only", condition="question", method=None, memory_text=None))
        if "in_context" in cfg["conditions"]:
            out.append(dict(name="in context" + tag, condition="in_context", method=None, memory_text=text,
                            substitute=sub))
        if "method" in cfg["conditions"]:
            out += [dict(name=(label or "method") + tag, condition="method", method=method, memory_text=text,
                         substitute=sub) for label, method in sweep(cfg, n_layer)]
    return with_keys(out, cfg)


def run(cfg, model, tokenizer, done):
    for point in points(cfg, model.config.n_layer):
        target = point.get("substitute") or cfg["answer"]
        score = lambda texts, y, prompt_len: [dict(hit=first_word_hit(t, target),
                                                   original_hit=first_word_hit(t, cfg["answer"]),
                                                   mentions=target in t) for t in texts]
        yield from sample_point(point, cfg, model, tokenizer, done, score)


def summarize(records, cfg):
    rows = []
    for name, runs in by_point(records).items():
        row = dict(point=name, condition=runs[0]["condition"], n=len(runs),
                   hits=sum(r["scores"]["hit"] for r in runs),
                   original_hits=sum(r["scores"].get("original_hit", 0) for r in runs),
                   mentions=sum(r["scores"]["mentions"] for r in runs))  # the answer anywhere in the continuation
        rows.append(row | touched_row(runs))
    return rows


def plot(rows, records, cfg, out):
    names = [r["point"] for r in rows]
    draw = lambda ax: ax.bar_label(ax.bar(range(1, len(names) + 1), [r["hits"] for r in rows], color="tab:blue"))
    plot_points(names, draw, f"runs beginning with the answer (of {rows[0]['n']})", cfg["title"] or
                f"recall: {cfg['init_from']}, {rows[0]['n']} seeds x {cfg['max_new_tokens']} tokens", out / "recall.png")
    plot_touched(rows, out / "touched_share.png")

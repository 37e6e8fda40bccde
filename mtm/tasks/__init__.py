"""
The evaluation tasks, one module each, all of one shape; evaluate.py drives them (resume, runs.jsonl, summary.csv
and summary.md, wandb, plots) and knows nothing of what they measure:

    SETTINGS                          {name: mtm.method.settings.Setting}: the task's own settings, beside evaluate.py's
    check(cfg)                        one ConfigError line for settings that mean nothing, before a model loads
    run(cfg, model, tokenizer, done)  yields records, dicts each with a unique 'key'; a record already in done
                                      (key -> record, read back from runs.jsonl) is yielded as it is, not recomputed
    summarize(records, cfg)           -> rows, dicts: one line of summary.csv each
    plot(rows, records, cfg, out)     writes the task's PNGs into the directory out

A new task: its module here and one line in TASKS.
"""
from mtm.tasks import facts, passkey, recall, sentiment, twohop

TASKS = dict(sentiment=sentiment, recall=recall, facts=facts, passkey=passkey, twohop=twohop)

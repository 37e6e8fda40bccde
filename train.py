"""
Train a small model from scratch on MQAR with filler (mqar.py, docs/mqar.md): a GPT (model.py, full or sliding-window
attention), the windowed GPT with this project's memory read while training (sliding.py), a peer (peers.py) or GPTm
(gptm.py), by `architecture`. After nanoGPT's train.py: AdamW with
linear warm-up and cosine decay, evaluation on the validation split every eval_interval steps (and on the test
split once, at the end), checkpoints in safetensors (weights and optimiser state; no pickle), resume. The batch
of step i is fixed (examples i * batch_size .. of the train split, cycling through `tasks`), so a resumed run sees
what an uninterrupted one would.

    python train.py config/train/train_full.py
    python train.py config/train/train_window.py --max_iters=2000
    python train.py config/train/train_window.py --init_from=resume
    python train.py config/train/train_memorizing.py
    python train.py config/train/train_window_mtm.py
"""
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from mtm.trained import mqar
from mtm.storage.disk import write_durably
from configurator import ConfigError, at_least, configure, one_of, settings_of
from model import GPT, GPTConfig
from mtm.trained.gptm import GPTm
from mtm.trained.peers import PEERS, peer
from mtm.trained.sliding import WindowMemoryGPT

# -----------------------------------------------------------------------------
out_dir = "out/train_full"
init_from = "scratch"  # 'scratch' or 'resume' (from out_dir's checkpoint)
eval_interval = 100
eval_iters = 4  # validation batches per task at each evaluation
log_interval = 10
always_save_checkpoint = True  # a checkpoint at every evaluation (False: only when validation loss improves)
wandb_log = False
wandb_project = "mtm-train"
wandb_run_name = "full"
# the task: every (pairs, distance) in turn, one per step
tasks = [[8, 32], [8, 128]]  # [pairs, distance]; a distance [lo, hi]: each pair its own, lo..hi
batch_size = 16
batch_tokens = 0  # 0: every task's batch is batch_size examples; N: each task's N // (its example's length)
# examples (at least 1), so that a step costs about the same tokens whatever its task (docs/mqar.md's attempts)
# the model: 'gpt' (model.py: full attention, or a sliding window of `window` positions), 'window_mtm' (the
# windowed GPT trained with this project's kNN memory of the positions that left its window, sliding.py), one of
# peers.py's trained memories ('block_recurrent', 'memorizing') or 'gptm' (gptm.py), whose local attention is also
# limited to `window` positions
architecture = "gpt"
n_layer = 2
n_head = 4
n_embd = 128
window = 0  # 0: full attention; W: a sliding window of W positions
state_vectors = 8  # block_recurrent: the recurrent state's vectors
knn = 32  # memorizing, window_mtm: the memories each query of its kNN layer (the last) reads
memory_rows = 256  # gptm: the memory matrix's rows m
sketch_rows = 16  # gptm: the rows of its sketch S M, read as extra positions
learned_sketch = False  # gptm: S trained (True) or a fixed count sketch
bptt = 8  # gptm: blocks between truncations of back-propagation through the memory
# AdamW, warm-up and cosine decay
learning_rate = 1e-3
max_iters = 1000
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
decay_lr = True
warmup_iters = 50
lr_decay_iters = 1000
min_lr = 1e-4
device = "cpu"
dtype = "float32"
seed = 1337
# -----------------------------------------------------------------------------

CHECKPOINT = "ckpt.safetensors"


def get_lr(it):
    """Linear warm-up, then cosine decay to min_lr at lr_decay_iters (nanoGPT's schedule)."""
    if not decay_lr:
        return learning_rate
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / max(1, lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)


def init_weights(model):
    """GPT-2's initialisation (as nanoGPT): normal(0, 0.02) weights, zero biases. torch's defaults (N(0, 1)
    embeddings, tied to the head) start the loss near 90 instead of ln(vocab)."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, torch.nn.Linear) and m.bias is not None:
            torch.nn.init.zeros_(m.bias)


def task_name(pairs, distance):
    """'16x128': 16 pairs at distance 128; '16x2-15': at distances 2..15, each pair its own."""
    lo, hi = mqar.span(distance)
    return f"{pairs}x{lo}" if lo == hi else f"{pairs}x{lo}-{hi}"


def examples_per_batch(pairs, distance):
    """batch_size, or with batch_tokens set, as many examples of this task as fit in batch_tokens tokens."""
    return max(1, batch_tokens // mqar.length(pairs, distance)) if batch_tokens else batch_size


def get_batch(split, step, pairs, distance):
    n = examples_per_batch(pairs, distance)
    ids, targets = mqar.batch(split, range(step * n, (step + 1) * n), pairs, distance)
    return ids.to(device), targets.to(device)


def task_loss(model, ids, targets):
    """Cross-entropy and accuracy at the scored positions (the queries' values), from the tokens before them."""
    logits = model(ids[:, :-1])
    scored = targets[:, 1:] >= 0
    picked = logits[scored]
    loss = F.cross_entropy(picked.float(), targets[:, 1:][scored])
    return loss, (picked.argmax(-1) == targets[:, 1:][scored]).float().mean()


@torch.no_grad()
def validate(model, split="val"):
    """Loss and accuracy per task on split, over eval_iters fixed batches each."""
    model.eval()
    out = {}
    for pairs, distance in tasks:
        losses, accs = zip(*(task_loss(model, *get_batch(split, i, pairs, distance)) for i in range(eval_iters)))
        out[task_name(pairs, distance)] = dict(loss=float(sum(losses) / len(losses)), acc=float(sum(accs) / len(accs)))
    model.train()
    return out


def tied(model):
    """Names of weights that are another weight (a head tied to the embedding): saved once, under the first name."""
    first, names = set(), set()
    for name, t in model.state_dict().items():
        if t.data_ptr() in first:
            names.add(name)
        first.add(t.data_ptr())
    return names


def save(path, model, optimizer, meta):
    """Weights, the optimiser's moments and step, and meta (JSON), all in one safetensors file."""
    skip = tied(model)
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items() if k not in skip}
    for i, state in optimizer.state_dict()["state"].items():
        tensors.update({f"optim.{i}.{k}": v.contiguous() for k, v in state.items()})
    tmp = path.with_suffix(".tmp")
    write_durably(tmp, lambda p: save_file(tensors, str(p), metadata={"meta": json.dumps(meta)}))
    tmp.replace(path)  # a crash mid-write leaves the last checkpoint


def load(path, model, optimizer=None):
    """The meta of the checkpoint at path; its weights (and optimiser state, given an optimizer) loaded."""
    try:
        with safe_open(str(path), "pt") as f:
            meta, tensors = json.loads(f.metadata()["meta"]), {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path} is not a checkpoint of train.py ({type(e).__name__}): train again with 'scratch'")
    missing, unexpected = model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
                                                strict=False)
    if set(missing) - tied(model) or unexpected:  # a head tied to the embedding is not saved
        raise ConfigError(f"{path} does not fit this model: missing {missing}, unexpected {unexpected}")
    if optimizer is None:
        return meta
    state = optimizer.state_dict()
    for name, t in tensors.items():
        if name.startswith("optim."):
            _, i, k = name.split(".")
            state["state"].setdefault(int(i), {})[k] = t
    optimizer.load_state_dict(state)
    return meta


def build(config):
    """The model a config describes (what a checkpoint's meta keeps): GPTConfig's fields, or a peer's settings."""
    config = dict(config)
    name = config.pop("architecture", "gpt")
    if name == "gptm":
        return GPTm(**config)
    if name == "window_mtm":
        return WindowMemoryGPT(**config)
    return GPT(GPTConfig(**config), name="mqar") if name == "gpt" else peer(name, **config)


def model_config(s, block):
    """The model settings s (train.py's names) describe, for sequences of block tokens, as build() takes it."""
    if s["architecture"] in ("gpt", "window_mtm"):
        config = GPTConfig(block_size=block, vocab_size=mqar.VOCAB, n_layer=s["n_layer"], n_head=s["n_head"],
                           n_embd=s["n_embd"], window=s["window"]).__dict__
        return config if s["architecture"] == "gpt" else dict(architecture="window_mtm", knn=s["knn"], **config)
    extra = dict(block_recurrent=dict(state_vectors=s["state_vectors"]), memorizing=dict(knn=s["knn"]),
                 gptm=dict(rows=s["memory_rows"], sketch=s["sketch_rows"], learned_sketch=s["learned_sketch"],
                           bptt=s["bptt"]))[s["architecture"]]
    return dict(architecture=s["architecture"], vocab=mqar.VOCAB, n_layer=s["n_layer"], n_head=s["n_head"],
                n_embd=s["n_embd"], window=s["window"], max_len=block, **extra)


def trained_model(out_dir, device="cpu"):
    """The model trained into out_dir (its checkpoint), in eval mode, and the checkpoint's meta."""
    path = Path(out_dir) / CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: train it first (python train.py config/train/...)")
    try:
        with safe_open(str(path), "pt") as f:
            model = build(json.loads(f.metadata()["meta"])["model"])
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path} is not a checkpoint of train.py ({type(e).__name__}): train again with 'scratch'")
    meta = load(path, model)
    return model.to(device).eval(), meta


def main():
    configure(globals(), rules=dict(init_from=one_of("scratch", "resume"), eval_interval=at_least(1),
                                    eval_iters=at_least(1), max_iters=at_least(0), window=at_least(0),
                                    batch_size=at_least(1), batch_tokens=at_least(0),
                                    architecture=one_of("gpt", "window_mtm", *PEERS, "gptm")))
    if architecture != "gpt" and window < 2:
        raise ConfigError(f"architecture={architecture!r} reads its sequence in parts of the window: set window >= 2")
    if not tasks or any(len(t) != 2 for t in tasks):
        raise ConfigError(f"tasks must be a list of [pairs, distance], got {tasks!r}")
    for pairs, distance in tasks:
        try:
            mqar.example("train", 0, pairs, distance)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"task {[pairs, distance]}: {e}")
    torch.manual_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    block = max(mqar.length(p, d) for p, d in tasks)
    config = model_config(globals(), block)
    model = build(config)
    if architecture in ("gpt", "window_mtm"):  # the peers keep their own initialisation
        init_weights(model)
    model = model.to(device, getattr(torch, dtype))
    decay = [p for p in model.parameters() if p.dim() >= 2]  # weight decay on matrices, as nanoGPT
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([dict(params=decay, weight_decay=weight_decay), dict(params=rest, weight_decay=0.0)],
                                  lr=learning_rate, betas=(beta1, beta2))
    iter_num, best = 0, float("inf")
    if init_from == "resume":
        if not (out / CHECKPOINT).is_file():
            raise ConfigError(f"init_from='resume' but {out / CHECKPOINT} does not exist: train with 'scratch' first")
        meta = load(out / CHECKPOINT, model, optimizer)
        if meta["model"] != config:
            raise ConfigError(f"{out / CHECKPOINT} holds a model {meta['model']}, these settings make {config}")
        iter_num, best = meta["iter_num"], meta["best_val_loss"]
    run = None
    if wandb_log:
        import wandb
        run = wandb.init(project=wandb_project, name=wandb_run_name, config=settings_of(globals()))
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; window {window or 'none'}; block {block}")
    log = open(out / "log.jsonl", "a")
    start = time.time()
    for it in tqdm(range(iter_num, max_iters + 1), initial=iter_num, total=max_iters + 1, desc="training"):
        if it % eval_interval == 0 or it == max_iters:
            val = validate(model)
            mean = sum(v["loss"] for v in val.values()) / len(val)
            print(json.dumps(dict(iter=it, val=val)), file=log, flush=True)
            if run:
                run.log({f"val/{k}/{m}": v[m] for k, v in val.items() for m in v} | {"iter": it})
            if it > 0 and (always_save_checkpoint or mean < best):
                best = min(best, mean)
                save(out / CHECKPOINT, model, optimizer, dict(iter_num=it, best_val_loss=best, model=config))
        if it == max_iters:
            break
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        pairs, distance = tasks[it % len(tasks)]
        loss, acc = task_loss(model, *get_batch("train", it // len(tasks), pairs, distance))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if it % log_interval == 0:
            print(json.dumps(dict(iter=it, loss=loss.item(), acc=acc.item(), lr=get_lr(it))), file=log, flush=True)
            if run:
                run.log(dict(iter=it, loss=loss.item(), acc=acc.item()))
    test = validate(model, "test")  # reported, never looked at while training or choosing settings
    seconds = time.time() - start
    print(json.dumps(dict(iter=max_iters, test=test, train_seconds=seconds)), file=log, flush=True)
    print(f"trained to iter {max_iters} in {seconds:.0f} s; validation {json.dumps(val)}; "
          f"test {json.dumps(test)}")


if __name__ == "__main__":
    try:
        main()
    except ConfigError as e:
        sys.exit(f"error: {e}")

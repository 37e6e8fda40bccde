"""
GPTm, seed 003's differentiable memory matrix, written as a module beside the model (issue 17).

The seed: a memory M of m rows of the model's width f; per block of text, a summary vector c ("copy BERT's CLS"),
v = M c, then "M(t+1) = M + 1/(1+exp(-0.5v)) * v^T" and "X(t+1) = concat[X(t+1), S * M(t+1)]", S a Clarkson-Woodruff
(count-sketch) matrix, fixed, or learned. Read literally, σ(v/2) [m] times v^T [1, m] is m × m, not the m × f of M;
the write implemented here is the reading that keeps M's shape, each row i adding c scaled by the gate of its own
match with c:

    v = M c                          # [m]: how much each memory row matches the block
    M <- M + σ(v / 2) c^T            # [m, f]: every row moves towards c, rows that match more move more

(the "long-tailed sigmoid" of the seed: σ(x / 2) saturates half as fast as σ(x); no row is ever erased). c: the
mean over the block's positions of the last layer's output after the final norm (a GPT has no CLS; the mean is
what the whole block said). Read: S M [s, f], the sketch of M, goes before the next block's tokens as s extra
positions that every token of the block attends to. Blocks of `window` tokens, causal attention inside each (so at
most window - 1 positions back), M carried from block to block with back-propagation through it truncated every
`bptt` blocks, as the seed warns recurrence forces.

    model = GPTm(vocab=145, n_layer=2, n_head=4, n_embd=128, window=16, max_len=771, rows=256, sketch=16)
    logits = model(ids)     # ids [B, T] -> [B, T, vocab]
"""
import torch
from torch import nn

from model import GPT, GPTConfig


def write(M, c):
    """The seed's write, batched: M [B, m, f], c [B, f] -> M + σ(M c / 2) c^T."""
    v = (M @ c[:, :, None]).squeeze(-1)                    # [B, m]
    return M + torch.sigmoid(0.5 * v)[:, :, None] * c[:, None, :]


def count_sketch(rows, sketch, seed=0):
    """A Clarkson-Woodruff (count-sketch) matrix [sketch, rows]: one ±1 per column, at a random row."""
    g = torch.Generator().manual_seed(seed)
    S = torch.zeros(sketch, rows)
    S[torch.randint(0, sketch, (rows,), generator=g), torch.arange(rows)] = torch.randint(0, 2, (rows,), generator=g) * 2.0 - 1
    return S


class GPTm(nn.Module):

    def __init__(self, vocab, n_layer, n_head, n_embd, window, max_len, rows=256, sketch=16, learned_sketch=False,
                 bptt=8):
        super().__init__()
        self.window, self.bptt = window, bptt
        # model.py's GPT, its positions covering one block after the sketch's positions
        self.gpt = GPT(GPTConfig(block_size=sketch + window, vocab_size=vocab, n_layer=n_layer, n_head=n_head,
                                 n_embd=n_embd), name="gptm")
        S = count_sketch(rows, sketch)
        if learned_sketch:
            self.sketch = nn.Parameter(S)
        else:
            self.register_buffer("sketch", S)
        self.rows = rows

    def forward(self, ids):
        B, T = ids.shape
        gpt, f = self.gpt.transformer, self.gpt.config.n_embd
        s = self.sketch.shape[0]
        M = ids.new_zeros(B, self.rows, f, dtype=gpt.wte.weight.dtype)
        out = []
        for i, block in enumerate(ids.split(self.window, dim=1)):
            if self.bptt and i % self.bptt == 0:
                M = M.detach()  # truncated back-propagation through the memory
            n = block.shape[1]
            read = self.sketch @ M                                                     # [B, s, f]
            x = torch.cat([read, gpt.wte(block)], dim=1) + gpt.wpe(torch.arange(s + n, device=ids.device))
            for layer in gpt.h:
                x = layer(x)
            h = gpt.ln_f(x[:, s:])                                                     # [B, n, f]
            out.append(self.gpt.lm_head(h))
            M = write(M, h.mean(dim=1))
        self.kept_bytes = M[0].nbytes  # what it carries on (a batch row): the memory matrix
        return torch.cat(out, dim=1)

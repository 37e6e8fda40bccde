"""Plain causal attention (with a sliding window where a layer has one): what a layer computes without memory, and
the mask the memory's attention shares with it."""
import torch
from torch.nn import functional as F


def visible_positions(first, T, window=None, device=None):
    """Which of T positions the rows first..T-1 see, [T - first, T] bool: causal, and with a sliding window only
    the last `window` (row i sees j when i - window < j <= i, as transformers' sliding_window_overlay).
    None where every row sees all T (one newest row, no window cutting it): no mask needed."""
    if T - first == 1 and (window is None or T <= window):
        return None
    rows, cols = torch.arange(first, T, device=device)[:, None], torch.arange(T, device=device)[None, :]
    return (cols <= rows) & (rows - cols < window) if window is not None else cols <= rows


def causal_attention(q, k, v, window=None):
    """scaled_dot_product_attention for the last Tq of T positions (Tq = T: a prompt; Tq = 1: a new token);
    window: a sliding-window layer's width (each row sees its last `window` positions)."""
    Tq, T = q.shape[2], k.shape[2]
    if window is None and (Tq == T or Tq == 1):
        return F.scaled_dot_product_attention(q, k, v, is_causal=Tq > 1, enable_gqa=True)
    mask = visible_positions(T - Tq, T, window, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)

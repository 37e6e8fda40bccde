"""Attention retrieval (beyond the paper; docs/METHOD.md): memory entries join the softmax of every query row,
the whole store's top-k per query or the tokens of the chunks chunks.choose_chunks chose."""
import math

import torch

from mtm.method.attention import visible_positions


# -----------------------------------------------------------------------------
# attention retrieval (beyond the paper; docs/METHOD.md): memory entries join the softmax of every query row

def retrieval_attention(q, k, v, memory, layer, q_raw=None, rotate=None, window=None):
    """
    Causal attention of the new query rows over the context and, in the same softmax, memory entries.
    q: [B, H, n, d] the queries of the last n positions; k, v: [B, H_kv, T, d] the context, T >= n (grouped-query
    models: query head h reads KV head h // (H // H_kv)). q_raw: [B, H, n, d] the pre-rotary queries of rotary
    models (default q), compared with the stored, pre-rotary keys. rotate(x [B, H_kv, M, d], positions [B, M]):
    x rotated to those positions (rotary models; used by mem_position='before'); None: keys are used as stored.
    Memory entries of a row: the tokens of its chosen chunks (memory.choice.entries, from chunks.choose_chunks), of which each
    query keeps its top knn_num[layer]; without chunks, the store's top-k for each query (store.search).
    window: a sliding-window layer's width; it limits the context only: memory entries have no position in it.
    Returns y: [B, H, n, d].
    """
    B, H, n, d = q.shape
    H_kv, T = k.shape[1], k.shape[2]
    group = H // H_kv
    s = memory.settings
    q_raw = q if q_raw is None else q_raw
    scale = 1.0 / math.sqrt(d)
    grouped = lambda x: x.reshape(B, H_kv, group * n, x.shape[-1])  # [B, H, n, .] -> per KV head, rows stacked
    ctx = (grouped(q) * scale @ k.transpose(-2, -1)).view(B, H, n, T)
    visible = visible_positions(T - n, T, window, q.device)
    if visible is not None:
        ctx = ctx.masked_fill(~visible, float("-inf"))
    if s.chunk_select:  # the chosen chunks' tokens, shared by every query of a row: [B, H_kv, M, d]
        index, position, valid = memory.choice.entries
        if s.mem_hide_start:  # rows that read memory: the memory's sink stands for the prompt's own start, which
            # the later positions no longer see (the hidden positions still see themselves: no row is left empty)
            cols, rows = torch.arange(T, device=q.device), torch.arange(T - n, T, device=q.device)
            hidden = (cols[None, :] < s.mem_hide_start) & (rows[:, None] >= s.mem_hide_start)  # [n, T]
            ctx = ctx.masked_fill(valid.any(dim=1)[:, None, None, None] & hidden, float("-inf"))
        sink = index <= -2  # [B, M] the bookkeeping token(s) laid out before the chunks (mem_sink)
        before = s.mem_position == "before" and rotate is not None  # the chunks sit just before the context
        if layer in memory.choice.cache:  # the same at every generated token
            mem_k, mem_v, mem_k_rot = memory.choice.cache[layer]
        else:
            mem_k, mem_v = memory.gather(layer, index.clamp(min=0))  # [H_kv, B, M, d]: the rows read alone
            mem_k, mem_v = mem_k.permute(1, 0, 2, 3).to(q.dtype), mem_v.permute(1, 0, 2, 3).to(v.dtype)
            if sink.any():  # entry -2 - j: the store's bookkeeping token j (chunk_layout)
                at, where = (-2 - index).clamp(min=0), sink[:, None, :, None]
                sink_k, sink_v = memory.store.sink_keys[layer][:, at], memory.store.sink_values[layer][:, at]
                mem_k = torch.where(where, sink_k.permute(1, 0, 2, 3).to(q.dtype), mem_k)
                mem_v = torch.where(where, sink_v.permute(1, 0, 2, 3).to(v.dtype), mem_v)
            mem_k_rot = rotate(mem_k, position) if before else None
            memory.choice.cache[layer] = mem_k, mem_v, mem_k_rot
        knn, M = s.knn_num[layer], mem_k.shape[2]
        ranked, thresholded = knn < M, s.mem_threshold > -1
        if not before or ranked or thresholded:  # pre-rotary query . pre-rotary key: [B, H, n, M]
            sim = (grouped(q_raw) @ mem_k.transpose(-2, -1)).view(B, H, n, M)
        if before:
            logits = (grouped(q) @ mem_k_rot.transpose(-2, -1)).view(B, H, n, M) * scale
        else:  # at the query's own position: the rotation cancels
            logits = sim * scale
        keep = valid[:, None, None, :].expand(B, H, n, M)
        if (ranked and s.search == "query_cos") or thresholded:
            cos = sim / (q_raw.norm(dim=-1, keepdim=True) * mem_k.norm(dim=-1).repeat_interleave(group, 1)[:, :, None]
                         ).clamp(min=1e-12)
        if ranked:  # each query keeps its top-k of the chunks' tokens
            rank = cos if s.search == "query_cos" else sim
            top = rank.masked_fill(~keep | sink[:, None, None, :], float("-inf")).topk(knn, dim=-1).indices
            keep = keep & torch.zeros(B, H, n, M, dtype=torch.bool, device=q.device).scatter_(-1, top, True)
        if thresholded:  # then those too far from the query stay out
            keep = keep & (cos >= s.mem_threshold)
        keep = keep | sink[:, None, None, :]  # the sink is always read, as the context's first token always is
    else:  # each query's own top-k of the whole store
        heads = torch.arange(H, device=q.device)[None, :, None].expand(B, H, n).reshape(-1)
        rows = q_raw.reshape(-1, d)
        mem_k, mem_v, found, dist, _ = memory.store.search(layer, heads, rows, s.knn_num[layer], metric=s.search)
        mem_k, mem_v = mem_k.view(B, H, n, -1, d).to(q.dtype), mem_v.view(B, H, n, -1, d).to(v.dtype)
        sim = (mem_k @ q_raw[..., None]).squeeze(-1)  # [B, H, n, k]
        logits = sim * scale
        keep = found.view(B, H, n, -1)
        if s.mem_threshold > -1:
            cos = sim / (q_raw.norm(dim=-1, keepdim=True) * mem_k.norm(dim=-1)).clamp(min=1e-12)
            keep = keep & (cos >= s.mem_threshold)
    logits = logits.masked_fill(~keep, float("-inf"))
    if memory.stats is not None:
        seen = memory.stats.setdefault(layer, [0, 0])
        seen[0] += int(keep.any(dim=-1).sum())
        seen[1] += B * H * n
    p = torch.cat([ctx, logits], dim=-1).softmax(dim=-1)  # one softmax over context and memory
    p_ctx, p_mem = p[..., :T], p[..., T:]
    y = (grouped(p_ctx) @ v).view(B, H, n, d)
    if s.chunk_select:
        return y + (grouped(p_mem) @ mem_v).view(B, H, n, d)
    return y + (p_mem[..., None] * mem_v).sum(dim=-2)

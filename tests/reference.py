"""
A deliberately simple, loop-based version of METHOD.md steps 1-10 for one memory layer, written
separately from memory.py so the two can be compared. Slow on purpose: plain loops over batch,
head and position, brute-force nearest neighbours by sorting all distances.
"""
import math

import torch


def softmax(xs):
    top = max(xs)
    e = [math.exp(x - top) for x in xs]
    return [x / sum(e) for x in e]


def reference_memory_attention(q, k, v, store_keys, store_values, knn, mem_frac, bookkeeping_frac, ts,
                               resid_only, resid_frac, q_raw=None, k_raw=None, window=None):
    """q, k, v: [B, H, T, d]; store_keys/values: [H_kv, N, d]. window: a sliding-window layer's width (row i sees
    positions i - window < j <= i; step 3 counts the positions the newest row sees). Returns y: [B, H, T, d]."""
    q, k, v = q.double(), k.double(), v.double()
    q_raw = q if q_raw is None else q_raw.double()
    k_raw = k if k_raw is None else k_raw.double()
    store_keys, store_values = store_keys.double(), store_values.double()
    B, H, T, d = q.shape
    group = H // store_keys.shape[0]
    y = torch.zeros_like(q)
    for b in range(B):
        for h in range(H):
            # equation 1, row by row
            A = [[0.0] * T for _ in range(T)]
            for i in range(T):
                first = 0 if window is None else max(0, i - window + 1)
                p = softmax([float(q[b, h, i] @ k[b, h, j]) / math.sqrt(d) for j in range(first, i + 1)])
                for j in range(first, i + 1):
                    A[i][j] = p[j - first]
            seen = T if window is None else min(T, window)
            a = A[T - 1]  # step 1
            new_v = [v[b, h, t].clone() for t in range(T)]
            for t in range(T):
                selected = True
                if t == 0 and bookkeeping_frac > 0 and a[0] <= bookkeeping_frac:  # step 2
                    selected = False
                if mem_frac > 0:  # step 3
                    if a[t] < 1 / (mem_frac * seen):
                        selected = False
                elif t != 0:
                    selected = False
                if not selected:
                    continue
                K, V = store_keys[h // group], store_values[h // group]
                dist = [float(((K[i] - k_raw[b, h, t]) ** 2).sum()) for i in range(K.shape[0])]  # step 5
                nearest = sorted(range(K.shape[0]), key=lambda i: dist[i])[:knn]  # fewer if the store is small
                cand_k = [] if resid_only else [k_raw[b, h, t]]  # step 6
                cand_v = [] if resid_only else [v[b, h, t]]
                cand_k += [K[i] for i in nearest]
                cand_v += [V[i] for i in nearest]
                if not cand_k:
                    continue
                w = softmax([ts * float(q_raw[b, h, t] @ key) / math.sqrt(d) for key in cand_k])  # step 7
                m = sum(wi * vi for wi, vi in zip(w, cand_v))  # step 8
                new_v[t] = (1 - resid_frac) * m + resid_frac * v[b, h, t] if resid_frac > 0 else m  # step 9
            for i in range(T):  # step 10
                y[b, h, i] = sum(A[i][j] * new_v[j] for j in range(T))
    return y


def reference_gpt2_logits(hf_state, n_head, idx, memory_layers, store, settings, chosen=None):
    """GPT-2 forward from transformers' state dict (Conv1D layout: x @ W + b), with the loop
    reference in the memory layers. memory_layers: {layer: k}. chosen: as for reference_llama_logits."""
    sd = {name: p.double() for name, p in hf_state.items()}
    B, T = idx.shape
    x = sd["transformer.wte.weight"][idx] + sd["transformer.wpe.weight"][:T]
    ln = lambda x, name: torch.nn.functional.layer_norm(x, x.shape[-1:], sd[name + ".weight"], sd[name + ".bias"], 1e-5)
    n_layer = max(int(name.split(".")[2]) for name in sd if name.startswith("transformer.h.")) + 1
    for layer in range(n_layer):
        p = f"transformer.h.{layer}."
        h = ln(x, p + "ln_1")
        qkv = h @ sd[p + "attn.c_attn.weight"] + sd[p + "attn.c_attn.bias"]
        C = x.shape[-1]
        q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in qkv.split(C, dim=2))
        knn = memory_layers.get(layer, 0)
        if knn > 0 and settings.retrieval == "attention":
            y = reference_retrieval_attention(q, k, v, store.keys[layer], store.values[layer], knn,
                                              chosen[0] if chosen else None, metric=settings.search,
                                              threshold=settings.mem_threshold)
        elif knn > 0:
            y = reference_memory_attention(q, k, v, store.keys[layer], store.values[layer], knn, settings.mem_frac,
                                           settings.bookkeeping_frac, settings.knn_softmax_influence,
                                           settings.resid_only, settings.resid_frac)
        else:
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + y.transpose(1, 2).reshape(B, T, C) @ sd[p + "attn.c_proj.weight"] + sd[p + "attn.c_proj.bias"]
        h = ln(x, p + "ln_2") @ sd[p + "mlp.c_fc.weight"] + sd[p + "mlp.c_fc.bias"]
        h = torch.nn.functional.gelu(h, approximate="tanh")
        x = x + h @ sd[p + "mlp.c_proj.weight"] + sd[p + "mlp.c_proj.bias"]
    return ln(x, "transformer.ln_f") @ sd["transformer.wte.weight"].T


def reference_llama_logits(hf_state, config, idx, memory_layers, store, settings, chosen=None):
    """Llama forward from transformers' state dict, written out plainly, with the loop reference in the
    memory layers: search and equation 5 on pre-rotary keys/queries, KV heads repeated to query heads.
    Attention retrieval: chosen = (entries, positions) per row, the chunk tokens each row reads (None: the store)."""
    sd = {name: p.double() for name, p in hf_state.items()}
    B, T = idx.shape
    H, H_kv, d = config.num_attention_heads, config.num_key_value_heads, config.hidden_size // config.num_attention_heads
    theta = config.rope_parameters["rope_theta"]
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2).double() / d)
    angles = torch.arange(T).double()[:, None] * inv_freq[None]  # [T, d/2]
    cos, sin = angles.cos().repeat(1, 2), angles.sin().repeat(1, 2)

    def rotate(x):
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return x * cos + torch.cat([-x2, x1], dim=-1) * sin

    def rms(x, w):
        return x / torch.sqrt((x ** 2).mean(-1, keepdim=True) + config.rms_norm_eps) * w

    x = sd["model.embed_tokens.weight"][idx]
    for layer in range(config.num_hidden_layers):
        p = f"model.layers.{layer}."
        h = rms(x, sd[p + "input_layernorm.weight"])
        q = (h @ sd[p + "self_attn.q_proj.weight"].T).view(B, T, H, d).transpose(1, 2)
        k = (h @ sd[p + "self_attn.k_proj.weight"].T).view(B, T, H_kv, d).transpose(1, 2)
        v = (h @ sd[p + "self_attn.v_proj.weight"].T).view(B, T, H_kv, d).transpose(1, 2)
        k, v = k.repeat_interleave(H // H_kv, dim=1), v.repeat_interleave(H // H_kv, dim=1)
        knn = memory_layers.get(layer, 0)
        if knn > 0 and settings.retrieval == "attention":
            entries, positions = chosen if chosen is not None else (None, None)
            y = reference_retrieval_attention(rotate(q), rotate(k), v, store.keys[layer], store.values[layer], knn,
                                              entries, q_raw=q, metric=settings.search,
                                              threshold=settings.mem_threshold, positions=positions,
                                              theta=theta if settings.mem_position == "before" else None,
                                              sink_keys=store.sink_keys.get(layer), sink_values=store.sink_values.get(layer),
                                              hidden=settings.mem_hide_start)
        elif knn > 0:
            y = reference_memory_attention(rotate(q), rotate(k), v, store.keys[layer], store.values[layer], knn,
                                           settings.mem_frac, settings.bookkeeping_frac,
                                           settings.knn_softmax_influence, settings.resid_only, settings.resid_frac,
                                           q_raw=q, k_raw=k)
        else:
            y = torch.nn.functional.scaled_dot_product_attention(rotate(q), rotate(k), v, is_causal=True)
        x = x + y.transpose(1, 2).reshape(B, T, H * d) @ sd[p + "self_attn.o_proj.weight"].T
        h = rms(x, sd[p + "post_attention_layernorm.weight"])
        gate, up = h @ sd[p + "mlp.gate_proj.weight"].T, h @ sd[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ sd[p + "mlp.down_proj.weight"].T
    return rms(x, sd["model.norm.weight"]) @ sd["model.embed_tokens.weight"].T


def reference_gemma_logits(hf_state, config, idx, memory_layers, store, settings, chosen=None):
    """Gemma 3 forward from transformers' state dict, written out plainly (norms x (1 + w), q/k norms, embeddings
    x sqrt(hidden), GeGLU, a sliding window and base 10,000 in local layers, base 1,000,000 in global ones), with the
    loop reference in the memory layers on the normed, pre-rotary queries and keys. Arguments as reference_llama_logits."""
    sd = {name: p.double() for name, p in hf_state.items()}
    B, T = idx.shape
    H, H_kv, d = config.num_attention_heads, config.num_key_value_heads, config.head_dim

    def rotary(theta):
        inv_freq = 1.0 / theta ** (torch.arange(0, d, 2).double() / d)
        angles = torch.arange(T).double()[:, None] * inv_freq[None]  # [T, d/2]
        cos, sin = angles.cos().repeat(1, 2), angles.sin().repeat(1, 2)
        return lambda x: x * cos + torch.cat([-x[..., d // 2:], x[..., : d // 2]], dim=-1) * sin

    def rms(x, w):
        return x / torch.sqrt((x ** 2).mean(-1, keepdim=True) + config.rms_norm_eps) * (1 + w)

    x = sd["model.embed_tokens.weight"][idx] * math.sqrt(config.hidden_size)
    for layer in range(config.num_hidden_layers):
        p = f"model.layers.{layer}."
        local = config.layer_types[layer] == "sliding_attention"
        theta = config.rope_parameters["sliding_attention" if local else "full_attention"]["rope_theta"]
        window, rotate = (config.sliding_window if local else None), rotary(theta)
        h = rms(x, sd[p + "input_layernorm.weight"])
        q = (h @ sd[p + "self_attn.q_proj.weight"].T).view(B, T, H, d).transpose(1, 2)
        k = (h @ sd[p + "self_attn.k_proj.weight"].T).view(B, T, H_kv, d).transpose(1, 2)
        v = (h @ sd[p + "self_attn.v_proj.weight"].T).view(B, T, H_kv, d).transpose(1, 2)
        q, k = rms(q, sd[p + "self_attn.q_norm.weight"]), rms(k, sd[p + "self_attn.k_norm.weight"])
        q = q * math.sqrt(d) / math.sqrt(config.query_pre_attn_scalar)  # the loops divide by sqrt(d): Gemma's scale
        k, v = k.repeat_interleave(H // H_kv, dim=1), v.repeat_interleave(H // H_kv, dim=1)
        knn = memory_layers.get(layer, 0)
        if knn > 0 and settings.retrieval == "attention":
            entries, positions = chosen if chosen is not None else (None, None)
            y = reference_retrieval_attention(rotate(q), rotate(k), v, store.keys[layer], store.values[layer], knn,
                                              entries, q_raw=q, metric=settings.search,
                                              threshold=settings.mem_threshold, positions=positions,
                                              theta=theta if settings.mem_position == "before" else None,
                                              sink_keys=store.sink_keys.get(layer), sink_values=store.sink_values.get(layer),
                                              hidden=settings.mem_hide_start,
                                              window=window)
        elif knn > 0:
            y = reference_memory_attention(rotate(q), rotate(k), v, store.keys[layer], store.values[layer], knn,
                                           settings.mem_frac, settings.bookkeeping_frac,
                                           settings.knn_softmax_influence, settings.resid_only, settings.resid_frac,
                                           q_raw=q, k_raw=k, window=window)
        else:
            rows, cols = torch.arange(T)[:, None], torch.arange(T)[None, :]
            mask = (cols <= rows) & ((rows - cols < window) if window else True)
            y = torch.nn.functional.scaled_dot_product_attention(rotate(q), rotate(k), v, attn_mask=mask)
        x = x + rms(y.transpose(1, 2).reshape(B, T, H * d) @ sd[p + "self_attn.o_proj.weight"].T,
                    sd[p + "post_attention_layernorm.weight"])
        h = rms(x, sd[p + "pre_feedforward_layernorm.weight"])
        gate, up = h @ sd[p + "mlp.gate_proj.weight"].T, h @ sd[p + "mlp.up_proj.weight"].T
        h = (torch.nn.functional.gelu(gate, approximate="tanh") * up) @ sd[p + "mlp.down_proj.weight"].T
        x = x + rms(h, sd[p + "post_feedforward_layernorm.weight"])
    return rms(x, sd["model.norm.weight"]) @ sd["model.embed_tokens.weight"].T


def reference_gpt2_cached_logits(hf_state, n_head, idx, memory_layers, store, settings):
    """Cached memory mode, token by token: each position's outputs, in every layer, are computed once,
    when it is the newest token, from the past positions' cached queries, keys and values. In a memory
    layer the newest token selects with its own attention row and uses the updated values for its own
    output only: that is the last row of the exact-mode reference over the cached prefix."""
    sd = {name: p.double() for name, p in hf_state.items()}
    B, T = idx.shape
    C = sd["transformer.wte.weight"].shape[1]
    ln = lambda x, name: torch.nn.functional.layer_norm(x, x.shape[-1:], sd[name + ".weight"], sd[name + ".bias"], 1e-5)
    n_layer = max(int(name.split(".")[2]) for name in sd if name.startswith("transformer.h.")) + 1
    past = {layer: ([], [], []) for layer in range(n_layer)}  # per layer: lists of q, k, v, each [B, H, d]
    logits = []
    for i in range(T):
        x = sd["transformer.wte.weight"][idx[:, i]] + sd["transformer.wpe.weight"][i]  # [B, C]
        for layer in range(n_layer):
            p = f"transformer.h.{layer}."
            qkv = ln(x, p + "ln_1") @ sd[p + "attn.c_attn.weight"] + sd[p + "attn.c_attn.bias"]
            for store_list, t in zip(past[layer], qkv.split(C, dim=1)):
                store_list.append(t.view(B, n_head, C // n_head))
            q, k, v = (torch.stack(lst, dim=2) for lst in past[layer])  # [B, H, i + 1, d]
            knn = memory_layers.get(layer, 0)
            if knn > 0:
                y = reference_memory_attention(q, k, v, store.keys[layer], store.values[layer], knn, settings.mem_frac,
                                               settings.bookkeeping_frac, settings.knn_softmax_influence,
                                               settings.resid_only, settings.resid_frac)[:, :, -1]
            else:
                y = torch.nn.functional.scaled_dot_product_attention(q[:, :, -1:], k, v)[:, :, 0]
            x = x + y.reshape(B, C) @ sd[p + "attn.c_proj.weight"] + sd[p + "attn.c_proj.bias"]
            h = ln(x, p + "ln_2") @ sd[p + "mlp.c_fc.weight"] + sd[p + "mlp.c_fc.bias"]
            x = x + torch.nn.functional.gelu(h, approximate="tanh") @ sd[p + "mlp.c_proj.weight"] + sd[p + "mlp.c_proj.bias"]
        logits.append(ln(x, "transformer.ln_f") @ sd["transformer.wte.weight"].T)
    return torch.stack(logits, dim=1)  # [B, T, V]


# -----------------------------------------------------------------------------
# attention retrieval (docs/METHOD.md, "Attention retrieval"), written out with loops

def rotate_to(x, position, theta):
    """Rotary embedding of one vector x [d] at an integer position (negative too), transformers' layout."""
    d = x.shape[-1]
    angles = position * (1.0 / theta ** (torch.arange(0, d, 2).double() / d))
    cos, sin = angles.cos().repeat(2), angles.sin().repeat(2)
    return x * cos + torch.cat([-x[d // 2:], x[:d // 2]]) * sin


def reference_retrieval_attention(q, k, v, store_keys, store_values, knn, entries=None, q_raw=None, metric="query_ip",
                                  threshold=-1.0, positions=None, theta=None, sink_keys=None, sink_values=None,
                                  window=None, hidden=0):
    """
    q, k, v: [B, H, T, d] (k, v repeated to the query heads; for rotary models q and k rotated). Every query row
    attends, in one softmax, to the context j <= t and to memory entries: entries[b] (a list of stored token
    indices, laid out with positions[b]) or, when entries is None, the whole store; of these it keeps its top
    knn by the metric (q_raw . key, or the cosine) whose cosine is at least threshold. A memory key's logit is
    q_raw . key (at the query's own position) or, with positions and theta, q . rotate(key, position).
    An entry -2 - j is the bookkeeping token j (sink_keys/sink_values [H_kv, P, d]): always read, never ranked.
    window: a sliding-window layer's width; it limits the context (i - window < j <= i), never the memory entries.
    hidden: in rows that read any entry, the context's first `hidden` positions are read by no later query.
    """
    q, k, v = q.double(), k.double(), v.double()
    q_raw = q if q_raw is None else q_raw.double()
    store_keys, store_values = store_keys.double(), store_values.double()
    B, H, T, d = q.shape
    group = H // store_keys.shape[0]
    y = torch.zeros_like(q)
    for b in range(B):
        for h in range(H):
            K, V = store_keys[h // group], store_values[h // group]
            candidates = list(range(K.shape[0])) if entries is None else [i for i in entries[b] if i >= 0]
            sinks = [] if entries is None else [i for i in entries[b] if i <= -2]
            for t in range(T):
                first = hidden if entries is not None and len(entries[b]) and t >= hidden else 0
                seen = range(max(first, 0 if window is None else t - window + 1), t + 1)
                logits = [float(q[b, h, t] @ k[b, h, j]) / math.sqrt(d) for j in seen]
                values = [v[b, h, j] for j in seen]
                for i in sinks:
                    pos = positions[b][list(entries[b]).index(i)]
                    logits.append(float(q[b, h, t] @ rotate_to(sink_keys[h // group, -2 - i].double(), pos, theta))
                                  / math.sqrt(d))
                    values.append(sink_values[h // group, -2 - i].double())
                sims = {i: float(q_raw[b, h, t] @ K[i]) for i in candidates}
                coss = {i: sims[i] / (float(q_raw[b, h, t].norm()) * float(K[i].norm())) for i in candidates}
                rank = coss if metric == "query_cos" else sims
                kept = [i for i in sorted(candidates, key=lambda i: -rank[i])[:knn] if coss[i] >= threshold]
                for i in kept:
                    if positions is not None and theta is not None:
                        pos = positions[b][list(entries[b]).index(i)]
                        logits.append(float(q[b, h, t] @ rotate_to(K[i], pos, theta)) / math.sqrt(d))
                    else:
                        logits.append(sims[i] / math.sqrt(d))
                    values.append(V[i])
                p = softmax(logits)
                y[b, h, t] = sum(pi * vi for pi, vi in zip(p, values))
    return y


def reference_sliding_memory_attention(q, k, v, window, knn):
    """The window + memory path (sliding.py): row t attends to its last `window` positions and, in the same softmax,
    to the knn positions j <= t - window (those that have left its window) whose keys have the largest inner
    product with its query. q: [B, H, T, d], k, v: [B, H_kv, T, d]. Returns y: [B, H, T, d]."""
    q, k, v = q.double(), k.double(), v.double()
    B, H, T, d = q.shape
    group = H // k.shape[1]
    y = torch.zeros_like(q)
    for b in range(B):
        for h in range(H):
            kv = h // group
            for t in range(T):
                left = list(range(0, max(0, t - window + 1)))
                sims = {j: float(q[b, h, t] @ k[b, kv, j]) for j in left}
                read = list(range(max(0, t - window + 1), t + 1)) + sorted(left, key=lambda j: -sims[j])[:knn]
                p = softmax([float(q[b, h, t] @ k[b, kv, j]) / math.sqrt(d) for j in read])
                y[b, h, t] = sum(pi * v[b, kv, j] for pi, j in zip(p, read))
    return y


def reference_gptm_write(M, c):
    """GPTm's write (gptm.py), one element at a time: M'[i][j] = M[i][j] + sigmoid(0.5 * sum_k M[i][k] c[k]) * c[j].
    M: [m, f] and c: [f] of one sequence."""
    m, f = M.shape
    out = torch.zeros(m, f, dtype=torch.float64)
    for i in range(m):
        v = sum(float(M[i, k]) * float(c[k]) for k in range(f))
        gate = 1.0 / (1.0 + math.exp(-0.5 * v))
        for j in range(f):
            out[i, j] = float(M[i, j]) + gate * float(c[j])
    return out

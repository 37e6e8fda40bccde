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
                               resid_only, resid_frac, q_raw=None, k_raw=None):
    """q, k, v: [B, H, T, d]; store_keys/values: [H_kv, N, d]. Returns y: [B, H, T, d] (float64)."""
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
                p = softmax([float(q[b, h, i] @ k[b, h, j]) / math.sqrt(d) for j in range(i + 1)])
                for j in range(i + 1):
                    A[i][j] = p[j]
            a = A[T - 1]  # step 1
            new_v = [v[b, h, t].clone() for t in range(T)]
            for t in range(T):
                selected = True
                if t == 0 and bookkeeping_frac > 0 and a[0] <= bookkeeping_frac:  # step 2
                    selected = False
                if mem_frac > 0:  # step 3
                    if a[t] < 1 / (mem_frac * T):
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


def reference_gpt2_logits(hf_state, n_head, idx, memory_layers, store, settings):
    """GPT-2 forward from transformers' state dict (Conv1D layout: x @ W + b), with the loop
    reference in the memory layers. memory_layers: {layer: k}."""
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
        if knn > 0:
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

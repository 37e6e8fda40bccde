"""sliding.py, the window + memory path of issue 17: positions enter the memory exactly when they leave the window,
memory.py's kNN attention reads them as the loop reference does, and a memory that keeps every position gives back
full attention."""
import torch

from memory import Memory
from mtm.method.settings import MemorySettings
from mtm.method.retrieval import retrieval_attention
from model import GPT, GPTConfig
from reference import reference_sliding_memory_attention
from mtm.generation import KVCache
from mtm.trained.sliding import SequenceStore, SlidingStore, WindowMemoryGPT, forward_parallel, forward_with_memory


def gpt(window, seed=0):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(block_size=64, vocab_size=50, n_layer=2, n_head=4, n_embd=32, window=window)).eval()
    for p in model.parameters():  # larger weights than the default: attention far from uniform
        torch.nn.init.normal_(p, 0, 0.3)
    return model


def settings(knn, layers=(1,)):
    return MemorySettings(knn_num=[knn if i in layers else 0 for i in range(2)], retrieval="attention",
                          search="query_ip")


def test_the_memory_attention_matches_the_loop_reference():
    torch.manual_seed(0)
    B, H, H_kv, T, d, W, knn = 2, 4, 2, 24, 8, 5, 3
    q, k, v = torch.randn(B, H, T, d), torch.randn(B, H_kv, T, d), torch.randn(B, H_kv, T, d)
    store = SlidingStore(B, H_kv, H)
    memory = Memory(store, settings(knn))
    rows = []
    for t in range(T):  # as forward_with_memory: position t - W enters before row t is read
        if t >= W:
            store.add(1, k[:, :, t - W:t - W + 1], v[:, :, t - W:t - W + 1])
        rows.append(retrieval_attention(q[:, :, t:t + 1], k[:, :, :t + 1], v[:, :, :t + 1], memory, 1, window=W))
    ref = reference_sliding_memory_attention(q, k, v, W, knn)
    torch.testing.assert_close(torch.cat(rows, 2).double(), ref, atol=1e-5, rtol=1e-5)


def test_positions_enter_the_memory_exactly_when_they_leave_the_window():
    W, T = 4, 30
    model = gpt(W)
    ids = torch.randint(0, 50, (3, T))
    store, sizes = SlidingStore(3, 4), []
    search = store.search
    store.search = lambda layer, *a, **k: (sizes.append(store.size(layer)), search(layer, *a, **k))[1]
    with torch.no_grad():
        forward_with_memory(model, ids, settings(2), store)
        capture = {1: None}
        model(ids, capture=capture)
    assert sizes == [max(0, t - W + 1) for t in range(T)]  # row t reads positions 0 .. t - W, never its window
    _, k, v = capture[1]
    assert store.size(1) == T - W  # after the last row: every position that has left its window, in order
    torch.testing.assert_close(store.keys[1], k[:, :, :T - W])
    torch.testing.assert_close(store.values[1], v[:, :, :T - W])
    assert 0 not in store.keys  # layer 0 reads no memory: nothing is kept for it


def test_a_memory_read_whole_gives_full_attention_and_none_the_window():
    W, T = 4, 40
    windowed, full = gpt(W), gpt(0)  # the same weights
    ids = torch.randint(0, 50, (2, T))
    with torch.no_grad():
        everything = forward_with_memory(windowed, ids, settings(T, layers=(0, 1)))
        nothing = forward_with_memory(windowed, ids, settings(0))
        torch.testing.assert_close(everything, full(ids), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(nothing, windowed(ids), atol=1e-5, rtol=1e-5)
        assert (everything - windowed(ids)).abs().max() > 1e-2  # the memory changed what the window alone gives


def test_the_parallel_memory_attention_matches_the_loop_reference():
    torch.manual_seed(1)
    B, H, H_kv, T, d, W, knn = 2, 4, 2, 24, 8, 5, 3
    q, k, v = torch.randn(B, H, T, d), torch.randn(B, H_kv, T, d), torch.randn(B, H_kv, T, d)
    cache = KVCache(capacity=T)
    k_all, v_all = cache.write(1, 0, k=k, v=v)
    store = SequenceStore(cache, W, H)
    store.cache.written = T  # what forward_parallel's cache counts as its layers write
    y = retrieval_attention(q, k_all, v_all, Memory(store, settings(knn)), 1, window=W)
    torch.testing.assert_close(y.double(), reference_sliding_memory_attention(q, k, v, W, knn), atol=1e-5, rtol=1e-5)


def test_the_parallel_path_reads_what_the_token_by_token_path_reads():
    for W, knn, T in [(4, 2, 30), (5, 3, 30), (4, 40, 30), (8, 4, 8)]:  # (4, 40): more asked than stored
        model = gpt(W, seed=W + knn)
        ids = torch.randint(0, 50, (3, T))
        with torch.no_grad():
            torch.testing.assert_close(forward_parallel(model, ids, settings(knn)),
                                       forward_with_memory(model, ids, settings(knn)), atol=1e-5, rtol=1e-5)


def test_the_parallel_path_reads_only_positions_that_left_the_window():
    W, T, knn = 4, 20, 3
    model = gpt(W)
    ids = torch.randint(0, 50, (2, T))
    seen = []
    store_search = SequenceStore.search
    SequenceStore.search = lambda self, *a, **k: (seen.append(store_search(self, *a, **k)), seen[-1])[1]
    try:
        with torch.no_grad():
            forward_parallel(model, ids, settings(knn))
    finally:
        SequenceStore.search = store_search
    _, _, found, _, index = seen[0]  # rows in retrieval_attention's order: (batch row, head, position)
    t = torch.arange(T).repeat(2 * 4)[:, None]
    assert (found.sum(1) == (t[:, 0] - W + 1).clamp(0, knn)).all()  # as many as have left, up to knn
    assert ((index <= t - W) | ~found).all() and (index[~found] == -1).all()  # none still in the window
    # and what leaves the window is read: with every position in memory, the rows are full attention
    with torch.no_grad():
        torch.testing.assert_close(forward_parallel(model, ids, settings(T, layers=(0, 1))), gpt(0)(ids),
                                   atol=1e-5, rtol=1e-5)


def test_training_with_the_memory_learns_through_the_queries_not_the_stored_keys():
    torch.manual_seed(0)
    model = WindowMemoryGPT(knn=4, block_size=32, vocab_size=50, n_layer=2, n_head=4, n_embd=32, window=4)
    ids = torch.randint(0, 50, (2, 24))
    last = model.gpt.transformer.h[1].attn
    stored = {}
    store_search = SequenceStore.search

    def search(self, layer, heads, queries, k, metric="query_ip"):
        found_k, found_v, *rest = store_search(self, layer, heads, queries, k, metric)
        stored["keys"] = found_k
        return (found_k, found_v, *rest)

    SequenceStore.search = search
    try:
        model(ids).sum().backward()
    finally:
        SequenceStore.search = store_search
    assert not stored["keys"].requires_grad  # the memory is read as data, as Memorizing Transformers' memories
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in last.parameters())
    assert model.settings.knn_num == [0, 4]  # the last layer reads the memory, the first does not

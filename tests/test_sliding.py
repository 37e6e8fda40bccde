"""sliding.py, the window + memory path of issue 17: positions enter the memory exactly when they leave the window,
memory.py's kNN attention reads them as the loop reference does, and a memory that keeps every position gives back
full attention."""
import torch

from memory import Memory, MemorySettings, retrieval_attention
from model import GPT, GPTConfig
from reference import reference_sliding_memory_attention
from sliding import SlidingStore, forward_with_memory


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

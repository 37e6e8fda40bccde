"""
The trained memories issue 17 compares with, lucidrains' packages used as they are (not rewritten), each behind
the one interface train.py gives every model: model(ids [B, T]) -> next-token logits [B, T, vocab], the whole
sequence read in one call, whatever the memory does inside.

    model = peer("block_recurrent", vocab=145, n_layer=2, n_head=4, n_embd=128, window=16, max_len=771)
    logits = model(ids)

- block_recurrent (seed 002; block-recurrent-transformer-pytorch): the sequence in blocks of window // 2 tokens,
  each attending to itself and the block before (so at most `window` positions back), and a recurrent state of
  `state_vectors` vectors in the last layer, updated per block with LSTM-like gates, carrying the rest.
- memorizing (Memorizing Transformers; memorizing-transformers-pytorch): the sequence in segments of `window`
  tokens with causal attention inside each; the last layer's kNN attention reads every earlier segment's keys and
  values (its top `knn` of them, FAISS, one index per batch row), added after each segment, not differentiated.
"""
import shutil
import tempfile

import torch
from torch import nn

PEERS = ("block_recurrent", "memorizing")


class BlockRecurrent(nn.Module):

    def __init__(self, vocab, n_layer, n_head, n_embd, window, max_len, state_vectors=8):
        super().__init__()
        from block_recurrent_transformer_pytorch import BlockRecurrentTransformer
        width = max(1, window // 2)
        self.net = BlockRecurrentTransformer(
            num_tokens=vocab, dim=n_embd, depth=n_layer, heads=n_head, dim_head=n_embd // n_head,
            max_seq_len=-(-max_len // width) * width, block_width=width, num_state_vectors=state_vectors,
            recurrent_layers=(n_layer,))

    def forward(self, ids):
        logits, memories, states = self.net(ids, return_memories_and_states=True)
        # what it carries on (a batch row): the last block's keys and values (xl memories) and the recurrent state
        self.kept_bytes = sum(t.nbytes for t in memories + states) / len(ids)
        return logits


class Memorizing(nn.Module):

    def __init__(self, vocab, n_layer, n_head, n_embd, window, max_len, knn=32):
        super().__init__()
        from memorizing_transformers_pytorch import MemorizingTransformer
        self.window = window
        self.directory = tempfile.mkdtemp(prefix="mtm-knn-")  # its memory-mapped memories: never the working dir
        self.net = MemorizingTransformer(
            num_tokens=vocab, dim=n_embd, depth=n_layer, heads=n_head, dim_head=n_embd // n_head,
            memorizing_layers=(n_layer,), max_knn_memories=max_len, num_retrieved_memories=knn,
            knn_memories_directory=self.directory)

    def forward(self, ids):
        with self.net.knn_memories_context(batch_size=ids.shape[0]) as memories:  # empty for every sequence
            logits = torch.cat([self.net(part, knn_memories=memories) for part in ids.split(self.window, dim=1)], 1)
            # what it keeps (a batch row): the stored keys and values (float32; FAISS's HNSW graph not counted)
            self.kept_bytes = sum(float(m.db_offsets.mean()) * 2 * m.dim * 4 for m in memories)
        return logits

    def __del__(self):
        shutil.rmtree(self.directory, ignore_errors=True)


def peer(name, **settings):
    """One of PEERS, built from train.py's settings (vocab, n_layer, n_head, n_embd, window, max_len, ...)."""
    return dict(block_recurrent=BlockRecurrent, memorizing=Memorizing)[name](**settings)

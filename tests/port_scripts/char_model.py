"""A character-level language model in the style of the makemore / nanoGPT tutorials: token and position
embeddings, one causal self-attention block written with einsum, LayerNorm and a GELU MLP, AdamW, then
sampling with top-k and nucleus (top-p) filtering (sort, cumsum, scatter) and scoring with gather."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

text = "the quick brown fox jumps over the lazy dog. the dog sleeps; the fox runs away into the woods."
chars = sorted(list(set(text)))
stoi = {ch: i for i, ch in enumerate(chars)}
itos = {i: ch for i, ch in enumerate(chars)}
encode = lambda s: [stoi[c] for c in s]  # noqa: E731
decode = lambda ids: ''.join([itos[i] for i in ids])  # noqa: E731


class Block(nn.Module):
    def __init__(self, n_embd, block_size):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.proj = nn.Linear(n_embd, n_embd)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        att = torch.einsum('btc,bsc->bts', q, k) * (C ** -0.5)
        att = att.masked_fill(self.tril[:T, :T] == 0, float('-inf'))
        att = F.softmax(att, dim=-1)
        x = x + self.proj(torch.einsum('bts,bsc->btc', att, v))
        return x + self.mlp(self.ln2(x))


class CharModel(nn.Module):
    def __init__(self, vocab_size, n_embd=16, block_size=8):
        super().__init__()
        self.block_size = block_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.block = Block(n_embd, block_size)
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)
        pos_emb = self.position_embedding_table(torch.arange(T))
        logits = self.lm_head(self.ln_f(self.block(tok_emb + pos_emb)))
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, top_k=None, top_p=None):
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -self.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :]
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float('Inf')
            if top_p is not None:
                sorted_logits, sorted_indices = torch.sort(logits, descending=True)
                cumulative_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
                sorted_indices_to_remove = cumulative_probs > top_p
                sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()
                sorted_indices_to_remove[..., 0] = 0
                indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
                logits = logits.masked_fill(indices_to_remove, -float('Inf'))
            idx_next = torch.argmax(logits, dim=-1, keepdim=True)  # greedy among what survived the filters
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def get_batch(data, block_size, batch_size, rng):
    ix = rng.integers(0, len(data) - block_size, size=batch_size)
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + block_size + 1] for i in ix])
    return x, y


def init_weights(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name.endswith("ln_f.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.from_numpy(rng.normal(0, 0.2, tuple(p.shape)).astype(np.float32)))


def main(steps=8):
    data = torch.tensor(encode(text), dtype=torch.long)
    model = CharModel(len(chars))
    init_weights(model, 0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        xb, yb = get_batch(data, model.block_size, 4, rng)
        logits, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    # score a sentence: log-probability of each next character, picked with gather
    model.eval()
    ids = torch.tensor([encode("the fox ")])
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])
        logp = F.log_softmax(logits, dim=-1)
        token_logp = logp.gather(2, ids[:, 1:].unsqueeze(-1)).squeeze(-1)

    start = torch.tensor([encode("the ")])
    return {
        "losses": losses,
        "token_logp": token_logp.numpy(),
        "top_k": decode(model.generate(start, 6, top_k=3)[0].tolist()),
        "top_p": decode(model.generate(start, 6, top_p=0.9)[0].tolist()),
        "best_next": torch.topk(logp[0, -1], 3).indices.tolist(),
    }

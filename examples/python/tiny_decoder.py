"""A one-block decoder (GPT-style) trained on sequences of any length.

Token ids come as [batch, steps] with both extents open in the
input_signature, so a single compiled training step serves every batch
size and sequence length: position embeddings from
kiln.range(kiln.shape(ids)[-1]), causal self-attention, a feed-forward
block and a per-token softmax cross-entropy. The task needs the causal
look-back: each target is the previous token plus one (mod the
vocabulary).

    /usr/bin/python3 examples/python/tiny_decoder.py
"""

import numpy as np

import kiln
from kiln import layers

VOCAB, WIDTH = 12, 16


class Decoder(kiln.Module):
    def __init__(self):
        super().__init__()
        # (Named layers: their weights keep these names in checkpoints.)
        self.tokens = layers.Embedding(VOCAB, WIDTH, name="tokens")
        self.places = layers.Embedding(64, WIDTH, name="places")
        self.attention = layers.MultiHeadAttention(num_heads=2, key_dim=8,
                                                   name="attention")
        self.norm1 = layers.LayerNormalization(name="norm1")
        self.norm2 = layers.LayerNormalization(name="norm2")
        self.hidden = layers.Dense(32, activation="gelu", name="hidden")
        self.back = layers.Dense(WIDTH, name="back")
        self.head = layers.Dense(VOCAB, name="head")

    def __call__(self, ids):
        x = self.tokens(ids) + self.places(kiln.range(kiln.shape(ids)[-1]))
        x = self.norm1(x + self.attention(x, x, use_causal_mask=True))
        x = self.norm2(x + self.back(self.hidden(x)))
        return self.head(x)  # [batch, steps, vocabulary] logits


def batch(rng):
    """Random ids of a random shape and their targets."""
    steps, size = int(rng.integers(3, 12)), int(rng.integers(2, 8))
    ids = rng.integers(0, VOCAB, size=(size, steps)).astype(np.int32)
    previous = np.concatenate([ids[:, :1], ids[:, :-1]], axis=1)
    return ids, ((previous + 1) % VOCAB).astype(np.int32)


def main(steps=200, seed=0):
    kiln.random.set_seed(seed)
    model = Decoder()
    optimizer = kiln.optimizers.Adam(1e-2)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)
    tokens = kiln.TensorSpec([None, None], kiln.int32)

    @kiln.function(input_signature=[tokens, tokens])
    def train_step(ids, targets):
        with kiln.GradientTape() as tape:
            loss = loss_fn(targets, model(ids))
        variables = tape.watched_variables()
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(seed)
    losses = []
    for step in range(steps):
        losses.append(float(train_step(*batch(rng))))
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {losses[-1]:.3f}")
    print(f"one trace for every shape: {train_step.trace_count} trace(s)")
    return losses, train_step.trace_count


if __name__ == "__main__":
    main()

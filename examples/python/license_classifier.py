"""Text classification on real text: which free-software license does a
paragraph come from?

Debian ships the full texts of the common licenses in
/usr/share/common-licenses. Their paragraphs are the samples (GPL-3,
Apache-2.0, MPL-2.0, LGPL-2.1 and GFDL-1.3 as the classes); a random
fifth of each license is held out. The model is Keras' text recipe:

    TextVectorization -> Embedding -> GlobalAveragePooling1D -> Dense

with the vectorizer inside a Sequential model, so fit and predict take
the raw strings (Kiln runs the text layer on each batch on the host and
the rest of the step compiled).

    PYTHONPATH=build/python_packages /usr/bin/python3 examples/python/license_classifier.py
"""

import os
import re

import numpy as np

import kiln

LICENSES = ("GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-2.1", "GFDL-1.3")
ROOT = "/usr/share/common-licenses"


def paragraphs(name, min_words=12):
    """The license text's paragraphs (blank-line separated) of at least
    min_words words, whitespace squeezed."""
    with open(os.path.join(ROOT, name), encoding="utf-8", errors="replace") as f:
        text = f.read()
    out = []
    for block in re.split(r"\n\s*\n", text):
        words = block.split()
        if len(words) >= min_words:
            out.append(" ".join(words))
    return out


def data(seed=0):
    """(train texts, train labels, test texts, test labels): a random fifth
    of each license's paragraphs held out."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label, name in enumerate(LICENSES):
        items = paragraphs(name)
        order = rng.permutation(len(items))
        cut = max(1, len(items) // 5)
        test += [(items[i], label) for i in order[:cut]]
        train += [(items[i], label) for i in order[cut:]]
    rng.shuffle(train)
    to_arrays = (lambda pairs: (np.array([t for t, _ in pairs], dtype=object),
                                np.array([y for _, y in pairs], np.int32)))
    return to_arrays(train) + to_arrays(test)


def main(epochs=25, verbose=1, seed=0):
    kiln.random.set_seed(seed)
    x_train, y_train, x_test, y_test = data(seed)
    layers = kiln.keras.layers
    vectorize = layers.TextVectorization(max_tokens=4000, output_sequence_length=96)
    vectorize.adapt(x_train)
    model = kiln.keras.Sequential([
        vectorize,
        layers.Embedding(4000, 32),
        layers.GlobalAveragePooling1D(),
        layers.Dense(32, activation="relu"),
        layers.Dense(len(LICENSES)),
    ])
    model.compile(kiln.keras.optimizers.Adam(0.01),
                  kiln.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    if verbose:
        print(f"{len(x_train)} training and {len(x_test)} held-out paragraphs, "
              f"vocabulary of {vectorize.vocabulary_size()} tokens")
        print(f"training loss {history.history['loss'][0]:.3f} -> "
              f"{history.history['loss'][-1]:.3f}")
        print(f"held-out accuracy {accuracy:.3f} (chance {1 / len(LICENSES):.3f})")
        probe = "You may convey a work based on the Program, or the modifications to " \
            "produce it from the Program, in the form of source code"
        guess = int(np.argmax(model.predict(np.array([probe], dtype=object), verbose=0)))
        print(f"a GPL-3 sentence is classified as {LICENSES[guess]}")
    return history.history["loss"], accuracy


if __name__ == "__main__":
    main()

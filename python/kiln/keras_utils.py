"""Keras' data utilities that read files: image_dataset_from_directory,
load_img / img_to_array / array_to_img / save_img (Pillow decodes and
encodes), split_dataset, Progbar and the (x, y, sample_weight) helpers.
They run on the host, in NumPy; the datasets they make are kiln.data
Datasets."""

import os
import random as _python_random
import sys
import time

import numpy as np

from . import audio, image
from .data import Dataset, _to_arrays

_IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_PIL_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover (setup.sh installs python3-pil)
        raise ImportError("reading and writing images needs Pillow (Debian: python3-pil)") \
            from None
    return Image


def _index_directory(directory, labels, formats, class_names, shuffle, seed, follow_links,
                     verbose):
    """(file paths, integer labels or None, class names): Keras' order
    (class folders sorted, files sorted within each walk), then one shuffle
    of paths and labels with RandomState(seed), as Keras does."""
    if not os.path.isdir(directory):
        raise ValueError(f"{directory} is not a directory")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names) <= set(subdirs):
                raise ValueError(f"class_names {list(class_names)} do not match the "
                                 f"subdirectories {subdirs} of {directory}")
            subdirs = list(class_names)
    else:
        if class_names is not None:
            raise ValueError("class_names goes with labels='inferred' only")
        subdirs = [""]
    paths, found = [], []
    for index, subdir in enumerate(subdirs):
        root_dir = os.path.join(directory, subdir)
        walk = sorted(os.walk(root_dir, followlinks=follow_links), key=lambda w: w[0])
        for root, _, files in walk:
            for name in sorted(files):
                if name.lower().endswith(formats):
                    paths.append(os.path.join(root, name))
                    found.append(index)
    if labels == "inferred":
        labels, names = np.array(found, np.int32), subdirs
    elif labels is None:
        names = None
    else:
        if len(labels) != len(paths):
            raise ValueError(f"{len(labels)} labels for {len(paths)} files in {directory}")
        labels = np.asarray(labels)
        names = [str(v) for v in sorted(set(labels.tolist()))]
    if verbose:
        print(f"Found {len(paths)} files" +
              ("." if names is None else f" belonging to {len(names)} classes."))
    if shuffle:
        seed = np.random.randint(1e6) if seed is None else seed
        np.random.RandomState(seed).shuffle(paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return paths, labels, names


def _split(paths, labels, validation_split, subset):
    """Keras' split: the last int(validation_split * n) files validate."""
    if not validation_split:
        return paths, labels
    count = int(validation_split * len(paths))
    if subset == "training":
        print(f"Using {len(paths) - count} files for training.")
        return paths[:len(paths) - count], None if labels is None else labels[:len(paths) - count]
    print(f"Using {count} files for validation.")
    return paths[len(paths) - count:], None if labels is None else labels[len(paths) - count:]


def _read_image(path, color_mode, size, interpolation, crop_to_aspect_ratio,
                pad_to_aspect_ratio):
    """One file as a float32 [height, width, channels] array (Keras' load:
    decode with the mode's channels, resize; optionally crop or pad to the
    target's aspect ratio first)."""
    with _pil().open(path) as img:
        array = np.asarray(img.convert(_PIL_MODES[color_mode]))
    if array.ndim == 2:
        array = array[:, :, None]
    h, w = array.shape[:2]
    height, width = size
    if crop_to_aspect_ratio:
        top, left, rows, cols = image._aspect_window(h, w, height, width)
        array = array[top:top + rows, left:left + cols]
    elif pad_to_aspect_ratio:
        ph, pw = max(h, int(w * height / width)), max(w, int(h * width / height))
        top, left = (ph - h) // 2, (pw - w) // 2
        padded = np.zeros((ph, pw, array.shape[2]), array.dtype)
        padded[top:top + h, left:left + w] = array
        array = padded
    return image._resize_array(array, size, interpolation).astype(np.float32)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, verbose=True):
    """Images in `directory` (a folder per class with labels="inferred") as
    a kiln.data.Dataset of (images, labels) batches, Keras'
    image_dataset_from_directory: files in Keras' order and shuffle, the
    last `validation_split` of them for subset="validation" (subset="both":
    the two datasets), images decoded by Pillow in `color_mode`, resized to
    `image_size` (float32, 0-255) as kiln.image.resize would; labels "int"
    (int32), "categorical" (float32 one-hot), "binary" (float32 [n, 1]) or
    None. Files are read as the dataset is iterated; the dataset has
    `class_names` and `file_paths`."""
    if color_mode not in _CHANNELS:
        raise ValueError(f"color_mode must be 'grayscale', 'rgb' or 'rgba', got "
                         f"{color_mode!r}")
    if data_format not in (None, "channels_last"):
        raise ValueError("image_dataset_from_directory: only channels_last images")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be set")
    size = (int(image_size[0]), int(image_size[1]))
    return _from_directory(
        directory, labels, label_mode, class_names, batch_size, shuffle, seed,
        validation_split, subset, follow_links, verbose, _IMAGE_FORMATS, "images",
        lambda path: _read_image(path, color_mode, size, interpolation, crop_to_aspect_ratio,
                                 pad_to_aspect_ratio))


def _from_directory(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                    validation_split, subset, follow_links, verbose, formats, what, read,
                    batch=None):
    """The Keras *_dataset_from_directory pipeline: files of `formats` in
    Keras' order and shuffle, the validation split, labels per label_mode,
    each file read by `read(path)` as the dataset is iterated, batched by
    `batch(dataset, batch_size)` (Dataset.batch by default)."""
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple)):
        raise ValueError("labels must be 'inferred', None or a list of labels, got "
                         f"{labels!r}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"label_mode must be 'int', 'categorical', 'binary' or None, got "
                         f"{label_mode!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be between 0 and 1, got {validation_split}")
    if bool(validation_split) != bool(subset):
        raise ValueError("subset and validation_split go together")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"subset must be 'training', 'validation' or 'both', got {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError("with validation_split and shuffling, give a seed (so the "
                         "training and validation files do not overlap)")
    seed = np.random.randint(1e6) if seed is None else seed
    paths, found, names = _index_directory(str(directory), labels, formats,
                                           class_names, shuffle, seed, follow_links, verbose)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"label_mode 'binary' needs exactly 2 classes, found {len(names)}: "
                         f"{names}")
    if not paths:
        raise ValueError(f"no {what} ({', '.join(formats)}) found in {directory}")

    def make(subset_name):
        chosen, chosen_labels = _split(paths, found, validation_split, subset_name)
        if not chosen:
            raise ValueError(f"the {subset_name} subset of {directory} is empty")

        def elements():
            for i, path in enumerate(chosen):
                value = read(path)
                if chosen_labels is None:
                    yield value
                    continue
                label = int(chosen_labels[i])
                if label_mode == "categorical":
                    label = np.eye(len(names), dtype=np.float32)[label]
                elif label_mode == "binary":
                    label = np.array([label], np.float32)
                else:
                    label = np.int32(label)
                yield value, label
        dataset = Dataset(elements, len(chosen))
        if shuffle:
            dataset = dataset.shuffle(buffer_size=(batch_size or 1) * 8, seed=seed)
        if batch_size is not None:
            dataset = batch(dataset, batch_size) if batch else dataset.batch(batch_size)
        dataset.class_names, dataset.file_paths = names, list(chosen)
        return dataset
    if subset == "both":
        return make("training"), make("validation")
    return make(subset)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None, shuffle=True,
                                seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """Text files (.txt) in `directory` (a folder per class with
    labels="inferred") as a kiln.data.Dataset of (strings, labels) batches,
    Keras' text_dataset_from_directory: each file's contents one string
    (cut to max_length bytes), labels and splits as
    image_dataset_from_directory's. Files are read as the dataset is
    iterated."""
    def read(path):
        with open(path, "rb") as f:
            data = f.read()
        value = np.empty((), dtype=object)
        value[()] = data[:int(max_length)] if max_length is not None else data
        return value
    return _from_directory(directory, labels, label_mode, class_names, batch_size, shuffle,
                           seed, validation_split, subset, follow_links, verbose, (".txt",),
                           "text files", read)


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, batch_size=32, sampling_rate=None,
                                 output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None,
                                 follow_links=False, verbose=True):
    """WAV files in `directory` as a kiln.data.Dataset of (audio, labels)
    batches, Keras' audio_dataset_from_directory: each file decoded by
    kiln.audio.decode_wav to float32 [samples, channels], cut or zero-padded
    to output_sequence_length, else each batch padded to its longest clip;
    labels and splits as image_dataset_from_directory's. Resampling
    (sampling_rate) and ragged batches are not provided: a file at another
    rate is an error naming it."""
    if ragged:
        raise ValueError("audio_dataset_from_directory: ragged=True is not supported; "
                         "give output_sequence_length or let batches be padded")

    def read(path):
        with open(path, "rb") as f:
            clip, rate = audio.decode_wav(f.read(), desired_samples=-1 if
                                          output_sequence_length is None
                                          else int(output_sequence_length))
        if sampling_rate is not None and int(rate) != int(sampling_rate):
            raise ValueError(f"audio_dataset_from_directory: {path} is sampled at "
                             f"{int(rate)} Hz, not {sampling_rate} (resampling is not "
                             "provided)")
        return np.asarray(clip.numpy())

    def padded(dataset, size):
        return dataset.padded_batch(size)
    return _from_directory(directory, labels, label_mode, class_names, batch_size, shuffle,
                           seed, validation_split, subset, follow_links, verbose, (".wav",),
                           "audio files", read,
                           None if output_sequence_length is not None else padded)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """A Pillow image of the file, in `color_mode`, resized to target_size
    (height, width) when given (Keras' load_img)."""
    if color_mode not in _CHANNELS:
        raise ValueError(f"color_mode must be 'grayscale', 'rgb' or 'rgba', got "
                         f"{color_mode!r}")
    img = _pil().open(path)
    img = img.convert(_PIL_MODES[color_mode])
    if target_size is not None:
        height, width = int(target_size[0]), int(target_size[1])
        if (img.height, img.width) != (height, width):
            methods = {"nearest": "NEAREST", "bilinear": "BILINEAR", "bicubic": "BICUBIC",
                       "hamming": "HAMMING", "box": "BOX", "lanczos": "LANCZOS"}
            if interpolation not in methods:
                raise ValueError(f"load_img: interpolation must be one of {sorted(methods)}, "
                                 f"got {interpolation!r}")
            resample = getattr(_pil(), methods[interpolation])
            if keep_aspect_ratio:
                top, left, rows, cols = image._aspect_window(img.height, img.width,
                                                             height, width)
                img = img.crop((left, top, left + cols, top + rows))
            img = img.resize((width, height), resample)
    return img


def img_to_array(img, data_format=None, dtype="float32"):
    """A Pillow image as a [height, width, channels] NumPy array."""
    if data_format not in (None, "channels_last"):
        raise ValueError("img_to_array: only channels_last arrays")
    array = np.asarray(img, dtype=dtype or "float32")
    return array[:, :, None] if array.ndim == 2 else array


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A [height, width, 1, 3 or 4] array (or tensor) as a Pillow image;
    with `scale` its values are shifted and stretched to 0-255 first."""
    if data_format not in (None, "channels_last"):
        raise ValueError("array_to_img: only channels_last arrays")
    x = np.array(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] not in (1, 3, 4):
        raise ValueError(f"array_to_img: expected [height, width, 1, 3 or 4], got {x.shape}")
    if scale:
        x = x - x.min()
        top = x.max()
        if top != 0:
            x = x / top
        x = x * 255
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    channels = x.shape[2]
    pixels = x.astype(np.uint8)
    return _pil().fromarray(pixels[:, :, 0] if channels == 1 else pixels, modes[channels])


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Writes an array as an image file (Keras' save_img; the format from
    the name unless file_format is given)."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and (file_format or str(path).rsplit(".", 1)[-1]).lower() in (
            "jpg", "jpeg"):
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def _sizes(left_size, right_size, total):
    """Keras' rules for split_dataset's sizes: a float is a fraction in
    (0, 1) (rounded), an int a count in (0, total); one may be None (the
    rest); neither side may end up empty, nor both exceed the total."""
    for size, side in ((left_size, "left_size"), (right_size, "right_size")):
        if size is None:
            continue
        if type(size) not in (int, float):
            raise TypeError(f"split_dataset: {side} must be an int, a float or None, got "
                            f"{type(size).__name__}")
        if (type(size) is int and not 0 < size < total) or \
                (type(size) is float and not 0 < size < 1):
            raise ValueError(f"split_dataset: {side} must be a positive int below {total} "
                             f"or a float in (0, 1), got {size}")
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError("split_dataset: the two fractions add up to more than 1")
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"split_dataset: {left} + {right} samples is more than the "
                         f"{total} there are")
    if left == 0 or right == 0:
        raise ValueError(f"split_dataset: with {total} samples, a side would be empty")
    return int(left), int(right)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """(left, right) Datasets of a dataset's samples (Keras'
    split_dataset): an array, a tuple or list of arrays of one length, or a
    Dataset (a batched one split into its samples and batched again);
    `shuffle` shuffles the samples with Python's random.seed(seed) first;
    the left takes the first left_size samples, the right the last
    right_size."""
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: give left_size, right_size or both")
    batch = None
    if isinstance(dataset, Dataset):
        batch = getattr(dataset, "_batch_size", None)
        samples = [_to_arrays(e) for e in (dataset.unbatch() if batch else dataset)]
    elif isinstance(dataset, np.ndarray):
        samples = list(dataset)
    elif isinstance(dataset, (list, tuple)) and dataset:
        arrays = [np.asarray(a) for a in dataset]
        if any(len(a) != len(arrays[0]) for a in arrays):
            raise ValueError("split_dataset: the arrays have different lengths")
        samples = list(zip(*arrays))
    else:
        raise TypeError(f"split_dataset: expected an array, a tuple or list of arrays or a "
                        f"Dataset, got {type(dataset).__name__}")
    if not samples:
        raise ValueError("split_dataset: the dataset is empty")
    if shuffle:
        _python_random.seed(_python_random.randint(0, int(1e6)) if seed is None else seed)
        _python_random.shuffle(samples)
    left, right = _sizes(left_size, right_size, len(samples))

    def build(part):
        first = part[0]
        if isinstance(first, tuple):
            arrays = tuple(np.stack([s[i] for s in part]) for i in range(len(first)))
        elif isinstance(first, dict):
            arrays = {k: np.stack([s[k] for s in part]) for k in first}
        else:
            arrays = np.stack(part)
        out = Dataset.from_tensor_slices(arrays)
        return out.batch(batch) if batch else out
    return build(samples[:left]), build(samples[len(samples) - right:])


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """(x,), (x, y) or (x, y, sample_weight), as Keras packs them (a lone x
    that is a tuple stays wrapped)."""
    if y is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """(x, y, sample_weight) from a batch (missing parts None)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"data is expected to be (x,), (x, y) or (x, y, sample_weight), got "
                     f"{len(data)} parts")


class Progbar:
    """A progress bar for loops (Keras' Progbar): update(current, values)
    sets the position and running means of named values; add(n) moves
    on by n. Writes to stdout; verbose 0 is silent, 2 prints only at the
    end."""

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step"):
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stateful_metrics = set(stateful_metrics or [])
        self._values, self._seen, self._start = {}, 0, time.time()
        self._last = 0.0

    def update(self, current, values=None, finalize=None):
        finalize = (self.target is not None and current >= self.target) \
            if finalize is None else finalize
        for name, value in values or []:
            value = float(np.asarray(value.numpy() if hasattr(value, "numpy") else value))
            if name in self.stateful_metrics:
                self._values[name] = [value, 1]
            else:
                steps = max(current - self._seen, 1)
                total, count = self._values.get(name, [0.0, 0])
                self._values[name] = [total + value * steps, count + steps]
        self._seen = current
        now = time.time()
        if self.verbose == 0 or (self.verbose == 2 and not finalize):
            return
        if not finalize and now - self._last < self.interval:
            return
        self._last = now
        info = " - ".join(f"{k}: {t / max(c, 1):.4g}" for k, (t, c) in self._values.items())
        if self.target is not None:
            done = int(self.width * current / self.target) if self.target else self.width
            bar = f"{current}/{self.target} [" + "=" * done + "." * (self.width - done) + "]"
        else:
            bar = f"{current} {self.unit_name}s"
        line = f"{bar} - {now - self._start:.0f}s" + (f" - {info}" if info else "")
        end = "\n" if finalize or self.verbose == 2 else ""
        sys.stdout.write(("\r" if self.verbose == 1 else "") + line + end)
        sys.stdout.flush()

    def add(self, n, values=None):
        self.update(self._seen + n, values)


class PyDataset:
    """Keras 3's PyDataset (Sequence in Keras 2): subclass it with
    __len__ (the batches per epoch) and __getitem__(index) (batch `index`:
    (x, y) or (x, y, sample_weight) arrays); fit and evaluate read the
    batches in order, or shuffled each epoch with fit's shuffle=True, and
    call on_epoch_begin/on_epoch_end around each pass. workers and
    use_multiprocessing are accepted; batches are read one at a time."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing = workers, use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    @property
    def num_batches(self):
        return len(self)

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def _as_kiln_dataset(self, shuffle):
        """The batches as a kiln.data.Dataset (one pass per iteration)."""
        from . import random as _random
        source = self

        def make():
            source.on_epoch_begin()
            order = np.arange(len(source))
            if shuffle:
                np.random.default_rng(_random._op_seed(None)).shuffle(order)
            for i in order:
                batch = source[int(i)]
                yield _to_arrays(tuple(batch) if isinstance(batch, list) else batch)
            source.on_epoch_end()
        return Dataset(make, len(self))


Sequence = PyDataset


# -- Keras 2's keras.preprocessing.text (still in many notebooks) ---------------

_TEXT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(input_text, filters=_TEXT_FILTERS, lower=True, split=" "):
    """The words of a text: lower-cased, each filtered character a split,
    empty pieces dropped (keras.preprocessing.text.text_to_word_sequence)."""
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({c: split for c in filters}))
    return [word for word in input_text.split(split) if word]


class Tokenizer:
    """Keras 2's text Tokenizer: `fit_on_texts` counts words (or
    characters), `word_index` numbers them from 1 by falling count (ties in
    order of first appearance; `oov_token` first), and texts become
    sequences of indices (`texts_to_sequences`, words ranked `num_words`
    or later dropped, or the OOV index) or matrices (`texts_to_matrix`:
    binary, count, freq or tfidf)."""

    def __init__(self, num_words=None, filters=_TEXT_FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None, analyzer=None, document_count=0):
        import collections
        self.num_words, self.filters, self.lower, self.split = num_words, filters, lower, split
        self.char_level, self.oov_token, self.analyzer = char_level, oov_token, analyzer
        self.document_count = document_count
        self.word_counts = collections.OrderedDict()
        self.word_docs = collections.defaultdict(int)
        self.index_docs = collections.defaultdict(int)
        self.word_index, self.index_word = {}, {}

    def _words(self, text):
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return list(text)
        if self.analyzer is not None:
            return self.analyzer(text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        for text in texts:
            self.document_count += 1
            words = self._words(text)
            for w in words:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(words):
                self.word_docs[w] += 1
        ranked = sorted(self.word_counts.items(), key=lambda item: item[1], reverse=True)
        vocabulary = ([] if self.oov_token is None else [self.oov_token]) + \
            [w for w, _ in ranked]
        self.word_index = {w: i for i, w in enumerate(vocabulary, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs.clear()
        for w, count in self.word_docs.items():
            self.index_docs[self.word_index[w]] = count

    def fit_on_sequences(self, sequences):
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    def texts_to_sequences_generator(self, texts):
        oov = self.word_index.get(self.oov_token)
        for text in texts:
            vector = []
            for w in self._words(text):
                i = self.word_index.get(w)
                if i is not None and not (self.num_words and i >= self.num_words):
                    vector.append(i)
                elif oov is not None:
                    vector.append(oov)
            yield vector

    def texts_to_sequences(self, texts):
        return list(self.texts_to_sequences_generator(texts))

    def sequences_to_texts_generator(self, sequences):
        oov = self.word_index.get(self.oov_token)
        for seq in sequences:
            words = []
            for i in seq:
                w = self.index_word.get(i)
                if w is not None and not (self.num_words and i >= self.num_words):
                    words.append(w)
                elif oov is not None:
                    words.append(self.index_word[oov])
            yield " ".join(words)

    def sequences_to_texts(self, sequences):
        return list(self.sequences_to_texts_generator(sequences))

    def texts_to_matrix(self, texts, mode="binary"):
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError("Tokenizer: give num_words, or fit on some texts first")
        if mode not in ("binary", "count", "freq", "tfidf"):
            raise ValueError(f"Tokenizer: unknown mode {mode!r} (binary, count, freq, tfidf)")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Tokenizer: fit on some texts before using the tfidf mode")
        out = np.zeros((len(sequences), width))
        for row, seq in enumerate(sequences):
            counts = {}
            for j in seq:
                if j < width:
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                if mode == "count":
                    out[row, j] = c
                elif mode == "freq":
                    out[row, j] = c / len(seq)
                elif mode == "binary":
                    out[row, j] = 1
                else:
                    out[row, j] = (1 + np.log(c)) * np.log(
                        1 + self.document_count / (1 + self.index_docs.get(j, 0)))
        return out

    def get_config(self):
        import json
        return {"num_words": self.num_words, "filters": self.filters, "lower": self.lower,
                "split": self.split, "char_level": self.char_level,
                "oov_token": self.oov_token, "document_count": self.document_count,
                "word_counts": json.dumps(self.word_counts),
                "word_docs": json.dumps(self.word_docs),
                "index_docs": json.dumps(self.index_docs),
                "index_word": json.dumps(self.index_word),
                "word_index": json.dumps(self.word_index)}

    def to_json(self, **kwargs):
        import json
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string):
    """The Tokenizer that to_json() wrote."""
    import collections
    import json
    config = dict(json.loads(json_string)["config"])
    tables = {k: json.loads(config.pop(k)) for k in
              ("word_counts", "word_docs", "index_docs", "index_word", "word_index")}
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = collections.OrderedDict(tables["word_counts"])
    tokenizer.word_docs = collections.defaultdict(int, tables["word_docs"])
    tokenizer.index_docs = collections.defaultdict(
        int, {int(k): v for k, v in tables["index_docs"].items()})
    tokenizer.index_word = {int(k): v for k, v in tables["index_word"].items()}
    tokenizer.word_index = tables["word_index"]
    return tokenizer

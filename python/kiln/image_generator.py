"""Keras 2's keras.preprocessing.image.ImageDataGenerator: random affine
augmentation of NumPy images (rotation, shifts, shear, zoom, flips,
brightness, channel shifts) and standardization, batched by `flow(x, y)`
or `flow_from_directory(directory)` into PyDatasets that `fit` reads.

The transforms are Keras' own: one 3x3 matrix per image about its centre,
applied per channel by SciPy's ndimage.affine_transform (bilinear by
default), as Keras does; the random draws come from NumPy (seeded by
`seed`), so the augmented images are Keras' distribution, not its exact
numbers."""

import os

import numpy as np

from .keras_utils import PyDataset, _CHANNELS, img_to_array, load_img

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".gif")


def _offset_center(matrix, rows, cols):
    o_x, o_y = float(rows) / 2 - 0.5, float(cols) / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return offset @ matrix @ reset


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=0,
                           col_axis=1, channel_axis=2, fill_mode="nearest", cval=0.0, order=1):
    """Keras' apply_affine_transform of one image (degrees for theta and
    shear; tx and ty in pixels, in Keras' (x, y) order of its matrix)."""
    try:
        from scipy import ndimage
    except ImportError:
        raise ImportError("ImageDataGenerator's transforms need SciPy "
                          "(apt-get install python3-scipy)") from None
    matrix = np.eye(3)
    if theta:
        t = np.deg2rad(theta)
        matrix = matrix @ np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0],
                                    [0, 0, 1]])
    if tx or ty:
        matrix = matrix @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    if shear:
        s = np.deg2rad(shear)
        matrix = matrix @ np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
    if zx != 1 or zy != 1:
        matrix = matrix @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    if np.array_equal(matrix, np.eye(3)):
        return x
    matrix = _offset_center(matrix, x.shape[row_axis], x.shape[col_axis])
    if col_axis > row_axis:
        # (Keras builds the matrix in (x, y) order; arrays index (row,
        # column): M' = P M P with P the swap, as Keras applies it)
        matrix[:, [0, 1]] = matrix[:, [1, 0]]
        matrix[[0, 1]] = matrix[[1, 0]]
    channels = np.rollaxis(x, channel_axis, 0)
    out = [ndimage.affine_transform(c, matrix[:2, :2], matrix[:2, 2], order=order,
                                    mode=fill_mode, cval=cval) for c in channels]
    return np.rollaxis(np.stack(out, axis=0), 0, channel_axis + 1)


class ImageDataGenerator:
    """Random augmentation and standardization of [height, width, channels]
    images, Keras 2's arguments: rotation_range (degrees),
    width_shift_range / height_shift_range (a fraction of the side below 1,
    pixels otherwise, or a list to choose from), shear_range (degrees),
    zoom_range (z: [1 - z, 1 + z], or a pair), horizontal_flip,
    vertical_flip, brightness_range, channel_shift_range, fill_mode, cval,
    rescale, preprocessing_function, featurewise_center /
    featurewise_std_normalization (after fit(x)), samplewise_center /
    samplewise_std_normalization, validation_split (with subset=)."""

    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0, width_shift_range=0.0,
                 height_shift_range=0.0, brightness_range=None, shear_range=0.0, zoom_range=0.0,
                 channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None,
                 data_format=None, validation_split=0.0, interpolation_order=1, dtype=None):
        if zca_whitening:
            raise NotImplementedError("ImageDataGenerator: zca_whitening is not supported")
        if data_format not in (None, "channels_last"):
            raise ValueError("ImageDataGenerator: only channels_last images")
        if fill_mode not in ("constant", "nearest", "reflect", "wrap"):
            raise ValueError(f"fill_mode must be constant, nearest, reflect or wrap, got "
                             f"{fill_mode!r}")
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if np.isscalar(zoom_range):
            zoom_range = (1 - zoom_range, 1 + zoom_range)
        elif len(zoom_range) != 2:
            raise ValueError(f"zoom_range must be a number or a pair, got {zoom_range!r}")
        self.featurewise_center, self.samplewise_center = featurewise_center, samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.rotation_range, self.shear_range = rotation_range, shear_range
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.brightness_range, self.zoom_range = brightness_range, tuple(zoom_range)
        self.channel_shift_range, self.fill_mode, self.cval = channel_shift_range, fill_mode, cval
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.rescale, self.preprocessing_function = rescale, preprocessing_function
        self.validation_split, self.interpolation_order = validation_split, interpolation_order
        self.dtype = dtype or "float32"
        self.mean = self.std = None

    # -- the transforms ----------------------------------------------------
    @staticmethod
    def _shift(spec, side, rng):
        if not spec:
            return 0
        if isinstance(spec, (int, np.integer, list, tuple, np.ndarray)):
            # (Keras: an int n draws whole pixels 0..n-1, a list one of its
            # values, either with a random sign)
            value = rng.choice(spec) * rng.choice([-1, 1])
        else:
            value = rng.uniform(-spec, spec)
        return value * side if np.max(spec) < 1 else value

    def get_random_transform(self, img_shape, seed=None, rng=None):
        rng = rng or np.random.RandomState(seed)
        rows, cols = img_shape[0], img_shape[1]
        params = {
            "theta": rng.uniform(-self.rotation_range, self.rotation_range)
            if self.rotation_range else 0,
            "tx": self._shift(self.height_shift_range, rows, rng),
            "ty": self._shift(self.width_shift_range, cols, rng),
            "shear": rng.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0,
            "zx": 1, "zy": 1,
            "flip_horizontal": bool(self.horizontal_flip and rng.random_sample() < 0.5),
            "flip_vertical": bool(self.vertical_flip and rng.random_sample() < 0.5),
            "channel_shift_intensity": rng.uniform(-self.channel_shift_range,
                                                   self.channel_shift_range)
            if self.channel_shift_range else None,
            "brightness": rng.uniform(*self.brightness_range)
            if self.brightness_range is not None else None}
        if self.zoom_range != (1, 1):
            params["zx"], params["zy"] = rng.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        return params

    def apply_transform(self, x, transform_parameters):
        p = transform_parameters
        x = apply_affine_transform(x, p.get("theta", 0), p.get("tx", 0), p.get("ty", 0),
                                   p.get("shear", 0), p.get("zx", 1), p.get("zy", 1),
                                   fill_mode=self.fill_mode, cval=self.cval,
                                   order=self.interpolation_order)
        if p.get("channel_shift_intensity") is not None:
            low, high = np.min(x), np.max(x)
            x = np.clip(x + p["channel_shift_intensity"], low, high)
        if p.get("flip_horizontal"):
            x = x[:, ::-1, :]
        if p.get("flip_vertical"):
            x = x[::-1, :, :]
        if p.get("brightness") is not None:
            # (Keras goes through a PIL image: it stretches the values to
            # 0-255 first and rounds to bytes; here the values are scaled)
            x = x * p["brightness"]
        return x

    def random_transform(self, x, seed=None):
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    def standardize(self, x):
        if self.preprocessing_function is not None:
            x = self.preprocessing_function(x)
        if self.rescale:
            x = x * self.rescale
        if self.samplewise_center:
            x = x - np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x = x / (np.std(x, keepdims=True) + 1e-6)
        if self.featurewise_center:
            if self.mean is None:
                raise ValueError("ImageDataGenerator: featurewise_center needs fit(x) first")
            x = x - self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                raise ValueError("ImageDataGenerator: featurewise_std_normalization needs "
                                 "fit(x) first")
            x = x / (self.std + 1e-6)
        return x

    def fit(self, x, augment=False, rounds=1, seed=None):
        """The per-channel mean and standard deviation of `x` [n, h, w, c]
        for the featurewise options."""
        x = np.asarray(x, self.dtype)
        if x.ndim != 4:
            raise ValueError(f"ImageDataGenerator.fit: x must be [n, h, w, c], got {x.shape}")
        if self.rescale:   # (Keras: the statistics of the rescaled images)
            x = x * self.rescale
        if augment:
            rng = np.random.RandomState(seed)
            x = np.concatenate([np.stack([self.apply_transform(
                image, self.get_random_transform(image.shape, rng=rng)) for image in x])
                for _ in range(rounds)])
        self.mean = np.mean(x, axis=(0, 1, 2)).reshape(1, 1, -1)
        self.std = np.std(x, axis=(0, 1, 2)).reshape(1, 1, -1)

    # -- batches -------------------------------------------------------------
    def _split(self, count, subset):
        if subset is None:
            return np.arange(count)
        if subset not in ("training", "validation"):
            raise ValueError(f"subset must be 'training' or 'validation', got {subset!r}")
        if not self.validation_split:
            raise ValueError("subset needs validation_split in the ImageDataGenerator")
        cut = int(count * self.validation_split)
        return np.arange(cut) if subset == "validation" else np.arange(cut, count)

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None,
             subset=None, **kwargs):
        """Augmented batches of the arrays: (x, y[, sample_weight]) or x."""
        return _ArrayBatches(self, x, y, sample_weight, batch_size, shuffle, seed, subset)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32,
                            shuffle=True, seed=None, subset=None, interpolation="nearest",
                            follow_links=False, keep_aspect_ratio=False, **kwargs):
        """Augmented batches of the images in `directory` (a folder per
        class, in sorted order unless `classes` lists them): class_mode
        "categorical" (one-hot), "binary", "sparse", "input" or None."""
        return _DirectoryBatches(self, directory, target_size, color_mode, classes, class_mode,
                                 batch_size, shuffle, seed, subset, interpolation,
                                 follow_links, keep_aspect_ratio)


class _Batches(PyDataset):
    """Batches of augmented images; shuffled each epoch with `shuffle`."""

    def __init__(self, generator, count, batch_size, shuffle, seed):
        super().__init__()
        self.generator, self.n, self.batch_size = generator, count, int(batch_size)
        self.shuffle, self.seed = shuffle, seed
        self._epoch = 0
        self._rng = np.random.RandomState(seed)
        self._reorder()

    def _reorder(self):
        self.index_array = np.arange(self.n)
        if self.shuffle:
            self.index_array = np.random.RandomState(
                None if self.seed is None else self.seed + self._epoch).permutation(self.n)

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def on_epoch_end(self):
        self._epoch += 1
        self._reorder()

    def reset(self):
        self._epoch = 0
        self._reorder()

    def _images(self, raw):
        g = self.generator
        out = []
        for image in raw:
            image = np.asarray(image, g.dtype)
            image = g.apply_transform(image, g.get_random_transform(image.shape, rng=self._rng))
            out.append(g.standardize(image))
        return np.stack(out).astype(g.dtype)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        rows = self.index_array[index * self.batch_size:(index + 1) * self.batch_size]
        return self._batch(rows)

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()

    def __next__(self):
        if not hasattr(self, "_position") or self._position >= len(self):
            self._position = 0
        batch = self[self._position]
        self._position += 1
        if self._position == len(self):
            self.on_epoch_end()
        return batch


class _ArrayBatches(_Batches):
    def __init__(self, generator, x, y, sample_weight, batch_size, shuffle, seed, subset):
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"flow: x must be [n, height, width, channels], got {x.shape}")
        keep = generator._split(len(x), subset)
        self.x = x[keep]
        self.y = None if y is None else np.asarray(y)[keep]
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)[keep]
        if self.y is not None and len(self.y) != len(x[keep]):
            raise ValueError(f"flow: x has {len(x)} images but y {len(y)} labels")
        super().__init__(generator, len(self.x), batch_size, shuffle, seed)

    def _batch(self, rows):
        images = self._images(self.x[rows])
        if self.y is None:
            return images
        if self.sample_weight is None:
            return images, self.y[rows]
        return images, self.y[rows], self.sample_weight[rows]


class _DirectoryBatches(_Batches):
    def __init__(self, generator, directory, target_size, color_mode, classes, class_mode,
                 batch_size, shuffle, seed, subset, interpolation, follow_links,
                 keep_aspect_ratio):
        if color_mode not in _CHANNELS:
            raise ValueError(f"color_mode must be 'grayscale', 'rgb' or 'rgba', got "
                             f"{color_mode!r}")
        if class_mode not in ("categorical", "binary", "sparse", "input", None):
            raise ValueError(f"class_mode must be categorical, binary, sparse, input or None, "
                             f"got {class_mode!r}")
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"flow_from_directory: {directory} is not a directory")
        classes = list(classes) if classes else sorted(
            d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
        self.class_indices = {c: i for i, c in enumerate(classes)}
        if class_mode == "binary" and len(classes) != 2:
            raise ValueError(f"class_mode='binary' needs 2 classes, found {len(classes)}")
        files, labels = [], []
        for c in classes:
            found = []
            for root, _, names in sorted(os.walk(os.path.join(directory, c),
                                                 followlinks=follow_links)):
                found += [os.path.join(root, n) for n in sorted(names)
                          if n.lower().endswith(_IMAGE_EXTENSIONS)]
            keep = generator._split(len(found), subset)
            files += [found[i] for i in keep]
            labels += [self.class_indices[c]] * len(keep)
        self.filepaths = files
        self.filenames = [os.path.relpath(f, directory) for f in files]
        self.classes = np.asarray(labels, np.int32)
        self.samples, self.num_classes = len(files), len(classes)
        self.target_size, self.color_mode = tuple(target_size), color_mode
        self.class_mode, self.interpolation = class_mode, interpolation
        self.keep_aspect_ratio = keep_aspect_ratio
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        super().__init__(generator, self.samples, batch_size, shuffle, seed)

    def _batch(self, rows):
        raw = [img_to_array(load_img(self.filepaths[i], self.color_mode, self.target_size,
                                     self.interpolation, self.keep_aspect_ratio))
               for i in rows]
        images = self._images(raw)
        labels = self.classes[rows]
        if self.class_mode == "categorical":
            return images, np.eye(self.num_classes, dtype=self.generator.dtype)[labels]
        if self.class_mode == "binary":
            return images, labels.astype(self.generator.dtype)
        if self.class_mode == "sparse":
            return images, labels.astype(self.generator.dtype)
        if self.class_mode == "input":
            return images, images.copy()
        return images

"""kiln.keras: tf.keras's spellings of Kiln's Keras-style API, so code
written against `tf.keras` (`from tensorflow import keras`,
`tf.keras.layers.Dense`, `keras.optimizers.schedules`) reads the same with
`kiln.keras`. Each name is the Kiln object itself (kiln.keras.layers is
kiln.layers), not a copy; `import kiln.keras.layers` works too."""

import sys
import types

import numpy as np

import random as _python_random

from . import (activations, callbacks, constraints, datasets, initializers, keras_ops,
               keras_utils, layers, losses, saving, metrics, mixed_precision, optimizers,
               regularizers)
from . import applications as _applications
from . import errors, image as _image, image_generator, nn as _nn, random as _kiln_random
from .tensor import convert_to_tensor as _convert
from .data import Dataset
from .layers import Input, Layer, Model, Sequential  # (keras.Layer: Keras 3)

# Keras 3 names the loss-scaling wrapper under optimizers too.
optimizers.LossScaleOptimizer = mixed_precision.LossScaleOptimizer


def _submodule(name, doc, **members):
    module = types.ModuleType(f"{__name__}.{name}", doc)
    module.__dict__.update(members)
    return module


models = _submodule("models", "tf.keras.models: the model classes, load_model.",
                    Model=Model, Sequential=Sequential, load_model=saving.load_model,
                    save_model=saving.save_model, clone_model=saving.clone_model,
                    model_from_json=saving.model_from_json)


def to_categorical(y, num_classes=None, dtype="float32"):
    """Class indices as one-hot rows (tf.keras.utils.to_categorical): a
    NumPy array of shape y.shape + (num_classes,), a trailing axis of 1 in
    y dropped first; num_classes defaults to max(y) + 1."""
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("to_categorical: class indices must be integers")
        y = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: class indices must lie in "
                         f"[0, {num_classes}), got {y.min()}..{y.max()}")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None].astype(np.int64), 1, axis=-1)
    return out


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Sequences of different lengths as one array [n, maxlen, ...]
    (tf.keras.utils.pad_sequences): each cut to maxlen (its start dropped,
    or with truncating="post" its end) and filled with `value` before it
    (or after, padding="post"); maxlen defaults to the longest."""
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding and truncating must be 'pre' or 'post', "
                         f"got {padding!r} and {truncating!r}")
    sequences = [np.asarray(s) for s in sequences]
    lengths = [len(s) for s in sequences]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be >= 0, got {maxlen}")
    shape = next((s.shape[1:] for s in sequences if len(s)), ())
    out = np.full((len(sequences), maxlen) + tuple(shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if kept.shape[1:] != shape:
            raise ValueError(f"pad_sequences: sequence {i} has entries of shape "
                             f"{kept.shape[1:]}, the others {shape}")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out


def set_random_seed(seed):
    """Seeds Python's random, NumPy's global generator and Kiln's
    (kiln.random.set_seed), as tf.keras.utils.set_random_seed does."""
    _python_random.seed(seed)
    np.random.seed(seed)
    _kiln_random.set_seed(seed)


def normalize(x, axis=-1, order=2):
    """x divided by its `order`-norm along `axis` (zero vectors stay zero),
    as NumPy (tf.keras.utils.normalize)."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Windows of `data` as a kiln.data.Dataset (Keras'): window i holds
    sequence_length steps `sampling_rate` apart starting at
    start_index + p_i, with p_i = 0, sequence_stride, ...; its target
    (when targets is not None) is targets[start_index + p_i]; batches of
    batch_size (None: single windows); shuffle draws the windows' order with
    NumPy's RandomState(seed), and batches shuffle again within 8 batches on
    every pass, as Keras. The windows are cut at once (sequence_length
    times the data's memory), not on the fly as tf.data does."""
    data = np.asarray(data)
    start = 0 if start_index is None else int(start_index)
    end = len(data) if end_index is None else int(end_index)
    if min(sequence_length, sequence_stride, sampling_rate) <= 0 or not 0 <= start < end:
        raise ValueError("timeseries_dataset_from_array: sequence_length, sequence_stride "
                         "and sampling_rate must be positive and start_index < end_index "
                         "within the data")
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        count = min(count, len(targets))
    if count <= 0:
        raise ValueError(f"timeseries_dataset_from_array: no window of {sequence_length} "
                         f"steps {sampling_rate} apart fits in {end - start} steps")
    positions = np.arange(0, count, sequence_stride)
    if shuffle:
        np.random.RandomState(np.random.randint(10 ** 6) if seed is None else seed) \
            .shuffle(positions)
    steps = start + positions[:, None] + np.arange(sequence_length) * sampling_rate
    windows = data[steps]
    elements = windows if targets is None else (windows, targets[start + positions])
    dataset = Dataset.from_tensor_slices(elements)
    if batch_size is None:
        return dataset
    if shuffle:   # (and, as Keras, locally again on every pass)
        dataset = dataset.shuffle(batch_size * 8, seed=seed)
    return dataset.batch(batch_size)


utils = _submodule("utils", "tf.keras.utils: helpers.",
                   to_categorical=to_categorical, pad_sequences=pad_sequences,
                   set_random_seed=set_random_seed, normalize=normalize,
                   timeseries_dataset_from_array=timeseries_dataset_from_array,
                   image_dataset_from_directory=keras_utils.image_dataset_from_directory,
                   text_dataset_from_directory=keras_utils.text_dataset_from_directory,
                   audio_dataset_from_directory=keras_utils.audio_dataset_from_directory,
                   load_img=keras_utils.load_img, img_to_array=keras_utils.img_to_array,
                   array_to_img=keras_utils.array_to_img, save_img=keras_utils.save_img,
                   split_dataset=keras_utils.split_dataset, Progbar=keras_utils.Progbar,
                   pack_x_y_sample_weight=keras_utils.pack_x_y_sample_weight,
                   unpack_x_y_sample_weight=keras_utils.unpack_x_y_sample_weight,
                   register_keras_serializable=saving.register_keras_serializable,
                   get_custom_objects=saving.get_custom_objects,
                   custom_object_scope=saving.custom_object_scope,
                   CustomObjectScope=saving.CustomObjectScope,
                   get_registered_name=saving.get_registered_name,
                   get_registered_object=saving.get_registered_object,
                   serialize_keras_object=saving.serialize_keras_object,
                   deserialize_keras_object=saving.deserialize_keras_object,
                   PyDataset=keras_utils.PyDataset, Sequence=keras_utils.Sequence)
# (Keras 2's homes of the same functions)
preprocessing = _submodule(
    "preprocessing", "tf.keras.preprocessing: sequence padding, time series windows.",
    sequence=_submodule("preprocessing.sequence", "tf.keras.preprocessing.sequence",
                        pad_sequences=pad_sequences),
    text=_submodule("preprocessing.text", "tf.keras.preprocessing.text (Keras 2)",
                    Tokenizer=keras_utils.Tokenizer,
                    tokenizer_from_json=keras_utils.tokenizer_from_json,
                    text_to_word_sequence=keras_utils.text_to_word_sequence),
    image=_submodule("preprocessing.image", "tf.keras.preprocessing.image",
                     load_img=keras_utils.load_img, img_to_array=keras_utils.img_to_array,
                     array_to_img=keras_utils.array_to_img, save_img=keras_utils.save_img,
                     ImageDataGenerator=image_generator.ImageDataGenerator,
                     apply_affine_transform=image_generator.apply_affine_transform),
    image_dataset_from_directory=keras_utils.image_dataset_from_directory,
    text_dataset_from_directory=keras_utils.text_dataset_from_directory,
    timeseries_dataset_from_array=timeseries_dataset_from_array)


def clear_session():
    """Starts default layer names over ("dense", "dense_1", ... again), as
    tf.keras.backend.clear_session does, and lets new variables take names
    existing ones have (their weights "dense/kernel:0" again); Kiln keeps
    no graph to clear."""
    from .variables import _forget_names
    layers._counters.clear()
    _forget_names()


from .ctc import ctc_batch_cost, ctc_decode  # noqa: E402

_EPSILON = [1e-7]


def _set_epsilon(value):
    """The fuzz factor Keras' backend.epsilon() reports (Kiln's losses and
    metrics use Keras' fixed 1e-7 constants)."""
    _EPSILON[0] = float(value)


def _floatx():
    """The global dtype policy's variable dtype (Keras' floatx)."""
    return mixed_precision.global_policy().variable_dtype


def _set_floatx(value):
    """Sets the default float type of new layers: the global dtype policy
    (float16, bfloat16, float32 or float64)."""
    if str(value) not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(f"set_floatx: expected float16, bfloat16, float32 or float64, got "
                         f"{value!r}")
    mixed_precision.set_global_policy(str(value))


def _is_keras_tensor(x):
    from .layers import KerasTensor
    return isinstance(x, KerasTensor)


backend = _submodule("backend", "tf.keras.backend: session helpers and CTC.",
                     clear_session=clear_session, floatx=_floatx, set_floatx=_set_floatx,
                     epsilon=lambda: _EPSILON[0], set_epsilon=_set_epsilon,
                     image_data_format=lambda: "channels_last",
                     is_keras_tensor=_is_keras_tensor,
                     get_value=lambda x: np.asarray(x.numpy()),
                     set_value=lambda x, value: x.assign(np.asarray(value)),
                     ctc_batch_cost=ctc_batch_cost, ctc_decode=ctc_decode)

ops = keras_ops  # (Keras 3's `from keras import ops`)


def _channels_last(data_format, what):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"keras.ops.image.{what}: data_format must be 'channels_last' "
                         f"(Kiln's images are [batch, height, width, channels]), got "
                         f"{data_format!r}")


def _image_resize(images, size, interpolation="bilinear", antialias=False,
                  crop_to_aspect_ratio=False, data_format=None, **kwargs):
    _channels_last(data_format, "resize")
    if crop_to_aspect_ratio:
        raise errors.UnimplementedError("keras.ops.image.resize: crop_to_aspect_ratio is "
                                        "not supported", None)
    return _image.resize(images, size, method=interpolation, antialias=antialias)


def _image_affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                            fill_value=0, data_format=None):
    _channels_last(data_format, "affine_transform")
    return _image.transform(images, transform, interpolation=interpolation,
                            fill_mode=fill_mode, fill_value=fill_value)


def _image_extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                           data_format=None):
    _channels_last(data_format, "extract_patches")
    size = (size, size) if isinstance(size, int) else tuple(size)
    strides = size if strides is None else (
        (strides, strides) if isinstance(strides, int) else tuple(strides))
    rates = (dilation_rate,) * 2 if isinstance(dilation_rate, int) else tuple(dilation_rate)
    return _image.extract_patches(images, [1, *size, 1], [1, *strides, 1], [1, *rates, 1],
                                  padding.upper())


keras_ops.image = _submodule(
    "ops.image", "keras.ops.image: Kiln's image ops, channels last.",
    resize=_image_resize, affine_transform=_image_affine_transform,
    extract_patches=_image_extract_patches,
    rgb_to_grayscale=lambda images, data_format=None: _image.rgb_to_grayscale(images),
    rgb_to_hsv=lambda images, data_format=None: _image.rgb_to_hsv(images),
    hsv_to_rgb=lambda images, data_format=None: _image.hsv_to_rgb(images),
    pad_images=lambda images, top_padding=None, left_padding=None, bottom_padding=None,
    right_padding=None, target_height=None, target_width=None, data_format=None:
        _pad_images(images, top_padding, left_padding, bottom_padding, right_padding,
                    target_height, target_width),
    crop_images=lambda images, top_cropping=None, left_cropping=None, bottom_cropping=None,
    right_cropping=None, target_height=None, target_width=None, data_format=None:
        _crop_images(images, top_cropping, left_cropping, bottom_cropping, right_cropping,
                     target_height, target_width))


def _two_of_three(before, after, target, side, what, sign):
    """Keras 3's rule for pad_images / crop_images along one axis: exactly
    two of (before, after, target) given, the third derived."""
    given = [v is not None for v in (before, after, target)]
    if sum(given) != 2:
        raise ValueError(f"keras.ops.image.{what}: give exactly two of the padding or "
                         "cropping before, after and the target size along each axis")
    if before is None:
        before = sign * (target - side) - after
    if target is None:
        target = side + sign * (before + after)
    return int(before), int(target)


def _pad_images(images, top, left, bottom, right, height, width):
    h, w = images.shape[-3], images.shape[-2]
    top, height = _two_of_three(top, bottom, height, h, "pad_images", 1)
    left, width = _two_of_three(left, right, width, w, "pad_images", 1)
    return _image.pad_to_bounding_box(images, top, left, height, width)


def _crop_images(images, top, left, bottom, right, height, width):
    h, w = images.shape[-3], images.shape[-2]
    top, height = _two_of_three(top, bottom, height, h, "crop_images", -1)
    left, width = _two_of_three(left, right, width, w, "crop_images", -1)
    return _image.crop_to_bounding_box(images, top, left, height, width)


def _get_metric(identifier):
    """A metric from a name ("accuracy", "mse", "AUC", ...), a Metric or a
    function, as compile resolves them (keras.metrics.get)."""
    from .training import _metric_for
    return _metric_for(identifier, None)


metrics.get = _get_metric


def _no_download(fname=None, origin=None, *args, **kwargs):
    """keras.utils.get_file: Kiln does not download."""
    raise errors.UnavailableError(
        f"get_file({fname!r}): Kiln does not download files; fetch {origin or fname} "
        "yourself and pass its path", None)


def _plot_model(*args, **kwargs):
    raise errors.UnimplementedError(
        "plot_model is not supported (it needs pydot and graphviz); model.summary() "
        "prints the layers", None)


utils.get_file = _no_download
utils.plot_model = _plot_model


def _int_shape(x):
    """keras.backend.int_shape: the static shape as a tuple (None where
    unknown)."""
    return tuple(x.shape)


backend.int_shape = _int_shape

# Keras 3's keras.random (functions of an int seed, or of the global one)
# and keras.config, over Kiln's own.
def _seeded(draw, generator_draw):
    """A keras.random function: `seed` an int (or None: the global seed),
    or a SeedGenerator (a kiln.random.Generator, which advances)."""
    def call(*args, seed=None, **kwargs):
        if isinstance(seed, _kiln_random.Generator):
            return generator_draw(seed, *args, **kwargs)
        return draw(*args, seed=seed, **kwargs)
    return call


random = _submodule(
    "random", "keras.random: random tensors (Kiln's generators).",
    normal=_seeded(
        lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None: _kiln_random.normal(
            shape, mean, stddev, dtype or "float32", seed=seed),
        lambda g, shape, mean=0.0, stddev=1.0, dtype=None: g.normal(
            shape, mean, stddev, dtype or "float32")),
    uniform=_seeded(
        lambda shape, minval=0.0, maxval=1.0, dtype=None, seed=None: _kiln_random.uniform(
            shape, minval, maxval, dtype or "float32", seed=seed),
        lambda g, shape, minval=0.0, maxval=1.0, dtype=None: g.uniform(
            shape, minval, maxval, dtype or "float32")),
    truncated_normal=_seeded(
        lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None:
            _kiln_random.truncated_normal(shape, mean, stddev, dtype or "float32", seed=seed),
        lambda g, shape, mean=0.0, stddev=1.0, dtype=None: g.truncated_normal(
            shape, mean, stddev, dtype or "float32")),
    randint=lambda shape, minval, maxval, dtype="int32", seed=None: _kiln_random.uniform(
        shape, minval, maxval, dtype, seed=seed),
    categorical=lambda logits, num_samples, dtype="int32", seed=None:
        _kiln_random.categorical(logits, num_samples, dtype=dtype, seed=seed),
    shuffle=lambda x, axis=0, seed=None: _shuffle_axis(x, axis, seed),
    dropout=lambda inputs, rate, noise_shape=None, seed=None: _nn.dropout(
        inputs, rate, noise_shape=noise_shape, seed=seed),
    gamma=lambda shape, alpha, dtype=None, seed=None: _kiln_random.gamma(
        shape, alpha, dtype=dtype or "float32", seed=seed),
    SeedGenerator=lambda seed=None: _kiln_random.Generator.from_seed(
        0 if seed is None else int(seed)))


def _shuffle_axis(x, axis, seed):
    from .ops import transpose
    x = _convert(x)
    if axis in (0, -x.ndim):
        return _kiln_random.shuffle(x, seed=seed)
    order = list(range(x.ndim))
    order[0], order[axis] = order[axis], order[0]
    return transpose(_kiln_random.shuffle(transpose(x, order), seed=seed), order)


config = _submodule(
    "config", "keras.config: global settings.",
    floatx=_floatx, set_floatx=_set_floatx, epsilon=lambda: _EPSILON[0],
    set_epsilon=_set_epsilon, image_data_format=lambda: "channels_last",
    backend=lambda: "kiln", enable_unsafe_deserialization=lambda: None,
    set_dtype_policy=mixed_precision.set_global_policy,
    dtype_policy=mixed_precision.global_policy)

def _family(name, doc, mode, **models):
    return _submodule(f"applications.{name}", doc, **models,
                      preprocess_input=_applications._preprocessor(mode, name),
                      decode_predictions=_applications.decode_predictions)


def _imagenet_preprocess(x, data_format=None, mode="caffe"):
    return _applications._preprocess(x, mode, data_format)


_families = {
    "mobilenet_v2": _family("mobilenet_v2", "MobileNetV2 and its input scaling.", "tf",
                            MobileNetV2=_applications.MobileNetV2),
    "resnet50": _family("resnet50", "ResNet50 and its input scaling.", "caffe",
                        ResNet50=_applications.ResNet50),
    "resnet": _family("resnet", "The ResNet v1 models and their input scaling.", "caffe",
                      ResNet50=_applications.ResNet50, ResNet101=_applications.ResNet101,
                      ResNet152=_applications.ResNet152),
    "vgg16": _family("vgg16", "VGG16 and its input scaling.", "caffe",
                     VGG16=_applications.VGG16),
    "vgg19": _family("vgg19", "VGG19 and its input scaling.", "caffe",
                     VGG19=_applications.VGG19),
    "imagenet_utils": _submodule("applications.imagenet_utils", "ImageNet input scaling.",
                                 preprocess_input=_imagenet_preprocess,
                                 decode_predictions=_applications.decode_predictions),
}
applications = _submodule(
    "applications", _applications.__doc__, MobileNetV2=_applications.MobileNetV2,
    ResNet50=_applications.ResNet50, ResNet101=_applications.ResNet101,
    ResNet152=_applications.ResNet152, VGG16=_applications.VGG16,
    VGG19=_applications.VGG19, **_families)
for _name, _module in _families.items():
    sys.modules[f"{__name__}.applications.{_name}"] = _module
del _name, _module

# Keras 2's homes: layers.experimental.preprocessing and optimizers.legacy.
layers.experimental = _submodule("layers.experimental", "Keras 2's experimental layers",
                                 preprocessing=layers)
optimizers.legacy = optimizers

for _name in ("activations", "applications", "backend", "callbacks", "config",
              "constraints", "datasets",
              "initializers", "layers", "losses", "metrics",
              "mixed_precision", "models", "ops", "optimizers", "preprocessing", "random",
              "regularizers", "utils"):
    sys.modules[f"{__name__}.{_name}"] = globals()[_name]
del _name

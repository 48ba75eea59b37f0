"""kiln.keras.applications: Keras' image classification architectures,
built from Kiln's layers with Keras' layer names (so that
`model.get_layer("block_13_expand_relu")` finds what a U-Net encoder
tutorial asks for): MobileNetV2, ResNet50/101/152, VGG16/19, each with the
`preprocess_input` of its family.

Kiln downloads nothing: `weights="imagenet"` (Keras' default) is an error
naming the remedy; `weights=None` gives fresh weights (Keras' initializers),
and a path loads a checkpoint written by `model.save_weights`. Without an
`input_shape` the models take 224x224x3 images, `include_top=False` too
(Keras would leave height and width open; Kiln's convolutions need them
known).
"""

import numpy as np

from . import errors, layers, math_ops, ops
from .tensor import convert_to_tensor

_DEFAULT_SHAPE = (224, 224, 3)


def _input(input_shape, input_tensor, what, min_size=32):
    """The image input (a new kiln.Input, or the given Keras tensor) and
    its shape, checked as Keras' obtain_input_shape does."""
    if input_tensor is not None:
        shape = tuple(input_tensor.shape[1:])
        image = input_tensor
    else:
        shape = _DEFAULT_SHAPE if input_shape is None else tuple(input_shape)
        image = None
    if len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(f"{what}: input_shape must be (height, width, channels), all known, "
                         f"got {shape}")
    if shape[0] < min_size or shape[1] < min_size:
        raise ValueError(f"{what}: images must be at least {min_size}x{min_size}, got "
                         f"{shape[0]}x{shape[1]}")
    if image is None:
        image = layers.Input(shape)
    return image, shape


def _no_other_arguments(kwargs, what):
    """Keras refuses arguments it does not know (a typo would otherwise
    build a model of the default shape)."""
    if kwargs:
        raise ValueError(f"{what}: unknown argument(s) {sorted(kwargs)}")


def _check_weights(weights, what):
    """None, or a path to load after building; "imagenet" cannot be had."""
    if weights == "imagenet":
        raise ValueError(
            f"{what}: weights='imagenet' needs Keras' pretrained file, which Kiln does not "
            "download; pass weights=None for fresh weights, or the path of a checkpoint "
            "that model.save_weights wrote")
    if weights is not None and not isinstance(weights, str):
        raise ValueError(f"{what}: weights must be None, 'imagenet' or a path, got {weights!r}")


def _finish(image, x, include_top, pooling, classes, classifier_activation, name, weights,
            what, flatten=False, pool_names=(None, None)):
    """The classifier (or pooling) on top, the model, and its weights."""
    if include_top:
        if flatten:
            x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(4096, activation="relu", name="fc1")(x)
            x = layers.Dense(4096, activation="relu", name="fc2")(x)
        else:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name=pool_names[0])(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name=pool_names[1])(x)
    elif pooling is not None:
        raise ValueError(f"{what}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    model = layers.Model(image, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


# ---------------------------------------------------------------- MobileNetV2

def _make_divisible(v, divisor=8):
    """Keras' channel rounding: to a multiple of `divisor`, never more than
    10% down."""
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def _correct_pad(x, kernel=3):
    """Keras' padding before a stride-2 'valid' convolution: one row and
    column less before the image where its extent is even."""
    h, w = x.shape[1], x.shape[2]
    half = kernel // 2
    return ((half - (1 - h % 2), half), (half - (1 - w % 2), half))


def _bn(name, epsilon=1e-3, momentum=0.999):
    return layers.BatchNormalization(epsilon=epsilon, momentum=momentum, name=name)


def _inverted_residual(inputs, expansion, stride, alpha, filters, block_id):
    channels = inputs.shape[-1]
    pointwise = _make_divisible(int(filters * alpha))
    prefix = f"block_{block_id}_"
    x = inputs
    if block_id:
        x = layers.Conv2D(expansion * channels, 1, padding="same", use_bias=False,
                          name=prefix + "expand")(x)
        x = _bn(prefix + "expand_BN")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(_correct_pad(x), name=prefix + "pad")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=prefix + "depthwise")(x)
    x = _bn(prefix + "depthwise_BN")(x)
    x = layers.ReLU(6.0, name=prefix + "depthwise_relu")(x)
    x = layers.Conv2D(pointwise, 1, padding="same", use_bias=False,
                      name=prefix + "project")(x)
    x = _bn(prefix + "project_BN")(x)
    if channels == pointwise and stride == 1:
        return layers.Add(name=prefix + "add")([inputs, x])
    return x


# (filters, stride, expansion) of the 17 inverted residual blocks.
_MOBILENET_V2_BLOCKS = ([(16, 1, 1)] + [(24, 2, 6), (24, 1, 6)] + [(32, 2, 6)] +
                        [(32, 1, 6)] * 2 + [(64, 2, 6)] + [(64, 1, 6)] * 3 +
                        [(96, 1, 6)] * 3 + [(160, 2, 6)] + [(160, 1, 6)] * 2 +
                        [(320, 1, 6)])


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
                input_tensor=None, pooling=None, classes=1000,
                classifier_activation="softmax", name=None, **kwargs):
    """Keras' MobileNetV2 (Sandler et al. 2018): width multiplier `alpha`,
    inverted residual blocks of ReLU6, batch normalization with Keras'
    epsilon 1e-3 and momentum 0.999."""
    what = "MobileNetV2"
    _no_other_arguments(kwargs, what)
    _check_weights(weights, what)
    image, shape = _input(input_shape, input_tensor, what)
    x = layers.Conv2D(_make_divisible(32 * alpha), 3, strides=2, padding="same",
                      use_bias=False, name="Conv1")(image)
    x = _bn("bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_MOBILENET_V2_BLOCKS):
        x = _inverted_residual(x, expansion, stride, alpha, filters, block_id)
    last = _make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = _bn("Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    return _finish(image, x, include_top, pooling, classes, classifier_activation,
                   name or f"mobilenetv2_{alpha:.2f}_{shape[0]}", weights, what)


# --------------------------------------------------------------------- ResNet

def _bottleneck(x, filters, stride=1, conv_shortcut=True, name=""):
    """Keras' ResNet v1 block: 1x1, 3x3, 1x1 (4x the filters) convolutions
    with batch normalization (epsilon 1.001e-5), added to the input or to
    its 1x1 projection."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = _bn(name + "_0_bn", 1.001e-5, 0.99)(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = _bn(name + "_1_bn", 1.001e-5, 0.99)(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=name + "_2_conv")(x)
    x = _bn(name + "_2_bn", 1.001e-5, 0.99)(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = _bn(name + "_3_bn", 1.001e-5, 0.99)(x)
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def _resnet(blocks, model_name, include_top, weights, input_tensor, input_shape, pooling,
            classes, classifier_activation, name):
    what = model_name
    _check_weights(weights, what)
    image, _ = _input(input_shape, input_tensor, what)
    x = layers.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(image)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = _bn("conv1_bn", 1.001e-5, 0.99)(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, count) in enumerate(zip((64, 128, 256, 512), blocks)):
        for i in range(1, count + 1):
            x = _bottleneck(x, filters, stride=(1 if stage == 0 else 2) if i == 1 else 1,
                            conv_shortcut=i == 1, name=f"conv{stage + 2}_block{i}")
    return _finish(image, x, include_top, pooling, classes, classifier_activation,
                   name or model_name.lower(), weights, what,
                   pool_names=("avg_pool", "max_pool"))


def _builder(build_body, layout, model_name, doc):
    """A Keras application function over `build_body(layout, model_name,
    include_top, weights, input_tensor, input_shape, pooling, classes,
    classifier_activation, name)`."""
    def build(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name=None,
              **kwargs):
        _no_other_arguments(kwargs, model_name)
        return build_body(layout, model_name, include_top, weights, input_tensor,
                          input_shape, pooling, classes, classifier_activation, name)
    build.__name__ = build.__qualname__ = model_name
    build.__doc__ = doc
    return build


def _resnet_builder(blocks, model_name):
    return _builder(_resnet, blocks, model_name,
                    f"Keras' {model_name} (He et al. 2015, v1 bottleneck blocks "
                    f"{'-'.join(map(str, blocks))}).")


ResNet50 = _resnet_builder((3, 4, 6, 3), "ResNet50")
ResNet101 = _resnet_builder((3, 4, 23, 3), "ResNet101")
ResNet152 = _resnet_builder((3, 8, 36, 3), "ResNet152")


# ------------------------------------------------------------------------ VGG

def _vgg(convolutions, model_name, include_top, weights, input_tensor, input_shape, pooling,
         classes, classifier_activation, name):
    what = model_name
    _check_weights(weights, what)
    image, _ = _input(input_shape, input_tensor, what)
    x = image
    for block, (filters, count) in enumerate(zip((64, 128, 256, 512, 512), convolutions), 1):
        for i in range(1, count + 1):
            x = layers.Conv2D(filters, 3, activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    return _finish(image, x, include_top, pooling, classes, classifier_activation,
                   name or model_name.lower(), weights, what, flatten=True)


def _vgg_builder(convolutions, model_name):
    return _builder(_vgg, convolutions, model_name,
                    f"Keras' {model_name} (Simonyan and Zisserman 2014): 3x3 convolution "
                    "blocks, max pooling, and two 4096-unit layers on top.")


VGG16 = _vgg_builder((2, 2, 3, 3, 3), "VGG16")
VGG19 = _vgg_builder((2, 2, 4, 4, 4), "VGG19")


# ----------------------------------------------------------- preprocess_input

# ImageNet's mean pixel in BGR order (the "caffe" mode of Keras).
_CAFFE_MEAN = np.array([103.939, 116.779, 123.68], np.float32)


def _preprocess(x, mode, data_format=None):
    """Keras' imagenet_utils.preprocess_input for RGB pixels in [0, 255]:
    "tf" scales to [-1, 1], "caffe" reverses the channels to BGR and
    subtracts ImageNet's mean pixel, "torch" scales to [0, 1] and
    normalizes by ImageNet's mean and deviation. NumPy in, NumPy out (a
    float array); a tensor in, a tensor out."""
    if data_format not in (None, "channels_last"):
        raise errors.UnimplementedError("preprocess_input: channels_last images only",
                                        errors.user_location())
    if isinstance(x, np.ndarray) or not hasattr(x, "numpy"):
        x = np.asarray(x)
        x = x.astype(np.float32) if x.dtype.kind != "f" else x.copy()
        if mode == "tf":
            return x / 127.5 - 1.0
        if mode == "torch":
            return (x / 255.0 - np.array([0.485, 0.456, 0.406], x.dtype)) / \
                np.array([0.229, 0.224, 0.225], x.dtype)
        return x[..., ::-1] - _CAFFE_MEAN.astype(x.dtype)
    t = convert_to_tensor(x)
    if not t.dtype.is_floating:
        t = ops.cast(t, "float32")
    if mode == "tf":
        return t / 127.5 - 1.0
    if mode == "torch":
        return (t / 255.0 - convert_to_tensor(np.array([0.485, 0.456, 0.406]), t.dtype)) / \
            convert_to_tensor(np.array([0.229, 0.224, 0.225]), t.dtype)
    return math_ops.reverse(t, [-1]) - convert_to_tensor(_CAFFE_MEAN.astype(np.float64), t.dtype)


def _preprocessor(mode, family):
    def preprocess_input(x, data_format=None):
        return _preprocess(x, mode, data_format)
    preprocess_input.__doc__ = f"{family}'s input scaling (Keras' mode {mode!r})."
    return preprocess_input


def decode_predictions(preds, top=5):
    """Needs ImageNet's class index file, which Kiln does not download."""
    raise errors.UnimplementedError(
        "decode_predictions needs Keras' imagenet_class_index.json, which Kiln does not "
        "download; map the indices (np.argsort(preds)[:, ::-1][:, :top]) to your labels",
        errors.user_location())

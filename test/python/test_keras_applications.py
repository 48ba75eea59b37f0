"""keras.applications: Keras' architectures, checked against the figures
Keras and TensorFlow's tutorials print (parameter counts of the models
without their classifier, which do not depend on the image size; the
MobileNetV2 layers a U-Net encoder takes), and run.
(Small images keep the test quick: building a functional model runs each
layer once, compiling a kernel per shape.)"""

import numpy as np
import pytest

import kiln

app = kiln.keras.applications


def test_mobilenet_v2_counts_and_the_layers_an_encoder_takes():
    base = app.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None)
    assert base.count_params() == 2_257_984   # (TensorFlow's transfer learning tutorial)
    assert base.name == "mobilenetv2_1.00_32"
    # TensorFlow's segmentation tutorial takes these from a 128x128 input
    # ((64, 64, 96) ... (4, 4, 320)); a 32x32 one has a quarter the extents.
    shapes = {name: base.get_layer(name).output.shape for name in (
        "block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
        "block_13_expand_relu", "block_16_project")}
    assert shapes == {"block_1_expand_relu": (None, 16, 16, 96),
                      "block_3_expand_relu": (None, 8, 8, 144),
                      "block_6_expand_relu": (None, 4, 4, 192),
                      "block_13_expand_relu": (None, 2, 2, 576),
                      "block_16_project": (None, 1, 1, 320)}
    encoder = kiln.keras.Model(base.input, [base.get_layer("block_6_expand_relu").output,
                                            base.get_layer("block_16_project").output])
    assert encoder.output_shape == [(None, 4, 4, 192), (None, 1, 1, 320)]
    assert len(encoder.trainable_variables) < len(base.trainable_variables)


@pytest.mark.parametrize("build,params,pool", [(app.ResNet50, 23_587_712, "avg_pool"),
                                               (app.VGG16, 14_714_688, None)])
def test_parameter_counts_without_top(build, params, pool):
    model = build(input_shape=(32, 32, 3), include_top=False, weights=None, pooling="avg")
    assert model.count_params() == params
    assert model.output_shape == (None, 2048 if pool else 512)
    if pool:  # (Keras names ResNet's pooling layer)
        assert model.get_layer(pool) is model.layers[-1]


def test_a_small_mobilenet_classifies():
    model = app.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=3)
    assert model.output_shape == (None, 3)
    assert model.get_layer("Conv1").kernel.shape == (3, 3, 3, 16)   # (8 * round(32 * 0.35 / 8))
    images = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    p = model(app.mobilenet_v2.preprocess_input(images)).numpy()
    assert p.shape == (1, 3) and (p > 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    # (Compiling its training step takes minutes here: see docs/python.md.)


def test_preprocessing_and_clear_errors(tmp_path):
    rgb = np.array([[[[0, 127.5, 255]]]], np.float32)
    np.testing.assert_allclose(app.mobilenet_v2.preprocess_input(rgb), [[[[-1, 0, 1]]]])
    # caffe: BGR, ImageNet's mean pixel subtracted.
    np.testing.assert_allclose(app.resnet50.preprocess_input(rgb),
                               [[[[255 - 103.939, 127.5 - 116.779, 0 - 123.68]]]], rtol=1e-6)
    np.testing.assert_allclose(app.vgg16.preprocess_input(kiln.constant(rgb)).numpy(),
                               app.vgg16.preprocess_input(rgb), rtol=1e-6)
    torch_mode = app.imagenet_utils.preprocess_input(rgb, mode="torch")
    np.testing.assert_allclose(torch_mode, (rgb / 255 - [0.485, 0.456, 0.406]) /
                               [0.229, 0.224, 0.225], rtol=1e-6)
    from kiln.keras.applications.resnet import ResNet101
    assert ResNet101 is app.ResNet101
    with pytest.raises(ValueError, match="does not download"):
        app.ResNet50()
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['input_shpe'\]"):
        app.MobileNetV2(input_shpe=(64, 64, 3), weights=None)
    with pytest.raises(ValueError, match="at least 32x32"):
        app.VGG19(input_shape=(16, 16, 3), weights=None, include_top=False)
    with pytest.raises(ValueError, match="pooling must be"):
        app.VGG16(input_shape=(32, 32, 3), weights=None, include_top=False, pooling="sum")
    with pytest.raises(kiln.errors.UnimplementedError, match="imagenet_class_index"):
        app.mobilenet_v2.decode_predictions(np.zeros((1, 1000)))
    # A path: the checkpoint save_weights wrote.
    model = app.VGG16(input_shape=(32, 32, 3), include_top=False, weights=None)
    path = str(tmp_path / "vgg")
    model.save_weights(path)
    again = app.VGG16(input_shape=(32, 32, 3), include_top=False, weights=path,
                      pooling="max")
    assert again.output_shape == (None, 512)
    np.testing.assert_array_equal(again.get_layer("block5_conv3").kernel.numpy(),
                                  model.get_layer("block5_conv3").kernel.numpy())

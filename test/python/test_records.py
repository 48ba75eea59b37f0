"""TFRecord files, tf.train.Example and parsing (kiln.io, kiln.train,
kiln.data.TFRecordDataset). The byte formats themselves are checked against
protobuf and the CRC test vectors in test_tfrecord_format.py; here the
oracle is the data written, and protobuf for a TensorFlow-made Example."""

import numpy as np
import pytest

import kiln
from kiln import errors

T = kiln.train
RNG = np.random.default_rng(5)


def example(i):
    return T.Example(features=T.Features(feature={
        "image": T.Feature(bytes_list=T.BytesList(value=[bytes([i]) * 3])),
        "label": T.Feature(int64_list=T.Int64List(value=[i - 1])),
        "point": T.Feature(float_list=T.FloatList(value=[i, i / 4])),
        "tags": T.Feature(int64_list=T.Int64List(value=list(range(10, 10 + i)))),
    }))


SPEC = {"image": kiln.io.FixedLenFeature([], kiln.string),
        "label": kiln.io.FixedLenFeature([], kiln.int64),
        "point": kiln.io.FixedLenFeature([2], kiln.float32),
        "tags": kiln.io.VarLenFeature(kiln.int64),
        "weight": kiln.io.FixedLenFeature([], kiln.float32, default_value=0.5)}


@pytest.mark.parametrize("compression", [None, "GZIP", "ZLIB"])
def test_write_read_parse_round_trip(tmp_path, compression):
    path = str(tmp_path / "data.tfrecord")
    with kiln.io.TFRecordWriter(path, kiln.io.TFRecordOptions(compression)) as writer:
        for i in range(4):
            writer.write(example(i).SerializeToString())
        writer.write(kiln.constant(example(9).SerializeToString()))
    records = kiln.data.TFRecordDataset(path, compression_type=compression)
    raw = [r.numpy() for r in records]
    assert raw[0] == example(0).SerializeToString() and len(raw) == 5
    assert T.Example.FromString(raw[2]) == example(2)
    parsed = list(records.map(lambda r: kiln.io.parse_single_example(r, SPEC)))
    for i, item in zip([0, 1, 2, 3, 9], parsed):
        assert item["image"].numpy() == bytes([i]) * 3
        assert item["label"].dtype == kiln.int64 and int(item["label"]) == i - 1
        np.testing.assert_array_equal(item["point"].numpy(), np.float32([i, i / 4]))
        assert item["tags"].values.numpy().tolist() == list(range(10, 10 + i))
        assert item["tags"].shape == (i,)
        assert float(item["weight"]) == 0.5
    batch = kiln.io.parse_example(kiln.constant(raw[:4]), SPEC)
    assert batch["label"].numpy().tolist() == [-1, 0, 1, 2]
    np.testing.assert_array_equal(batch["tags"].numpy(),
                                  [[0, 0, 0], [10, 0, 0], [10, 11, 0], [10, 11, 12]])
    assert batch["tags"].indices.numpy().tolist() == [[1, 0], [2, 0], [2, 1], [3, 0], [3, 1],
                                                      [3, 2]]
    # A pipeline batches the parsed SparseTensors (as tf.data does).
    batched = next(iter(records.map(lambda r: kiln.io.parse_single_example(r, SPEC)).batch(4)))
    np.testing.assert_array_equal(batched["tags"].numpy(), batch["tags"].numpy())
    np.testing.assert_array_equal(batched["point"].numpy(), batch["point"].numpy())


def test_sequence_features_and_errors(tmp_path):
    raw = [example(i).SerializeToString() for i in range(3)]
    seq = {"tags": kiln.io.FixedLenSequenceFeature([], kiln.int64, allow_missing=True,
                                                   default_value=-1),
           "none": kiln.io.FixedLenSequenceFeature([2], kiln.float32, allow_missing=True)}
    out = kiln.io.parse_example(raw, seq)
    assert out["tags"].numpy().tolist() == [[-1, -1], [10, -1], [10, 11]]
    assert out["none"].shape == (3, 0, 2)
    with pytest.raises(errors.InvalidArgumentError, match="'missing' .* is required"):
        kiln.io.parse_single_example(raw[0], {"missing": kiln.io.FixedLenFeature([],
                                                                                 kiln.int64)})
    with pytest.raises(errors.InvalidArgumentError, match="holds int64 values but the spec "
                                                          "asks for float32"):
        kiln.io.parse_single_example(raw[0], {"label": kiln.io.FixedLenFeature([],
                                                                               kiln.float32)})
    with pytest.raises(errors.InvalidArgumentError, match="has 2 values, its shape"):
        kiln.io.parse_single_example(raw[0], {"point": kiln.io.FixedLenFeature([3],
                                                                               kiln.float32)})
    with pytest.raises(errors.InvalidArgumentError, match="could not parse an Example"):
        kiln.io.parse_single_example(b"\x0a\x05abc", SPEC)
    with pytest.raises(ValueError, match="dtype must be float32, int64 or string"):
        kiln.io.FixedLenFeature([], kiln.int32)
    path = tmp_path / "bad.tfrecord"
    with kiln.io.TFRecordWriter(str(path)) as writer:
        writer.write(raw[0])
        writer.write(raw[1])
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF   # (inside the second record's data)
    path.write_bytes(bytes(data))
    records = iter(kiln.data.TFRecordDataset(str(path)))
    assert next(records).numpy() == raw[0]
    with pytest.raises(errors.DataLossError, match="bad.tfrecord"):
        next(records)
    with pytest.raises(errors.NotFoundError):
        list(kiln.data.TFRecordDataset(str(tmp_path / "none.tfrecord")))


def test_example_messages_match_protobuf():
    protobuf = pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    del protobuf
    proto = descriptor_pb2.FileDescriptorProto(name="kiln_example_test.proto",
                                               package="kilntest", syntax="proto3")
    for name, field_type in (("BytesList", 12), ("FloatList", 2), ("Int64List", 3)):
        message = proto.message_type.add(name=name)
        message.field.add(name="value", number=1, label=3, type=field_type)
    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, type_name) in enumerate((("bytes_list", "BytesList"),
                                                 ("float_list", "FloatList"),
                                                 ("int64_list", "Int64List")), 1):
        feature.field.add(name=name, number=number, label=1, type=11,
                          type_name=f".kilntest.{type_name}", oneof_index=0)
    features = proto.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=1, type=9)
    entry.field.add(name="value", number=2, label=1, type=11, type_name=".kilntest.Feature")
    features.field.add(name="feature", number=1, label=3, type=11,
                       type_name=".kilntest.Features.FeatureEntry")
    ex = proto.message_type.add(name="Example")
    ex.field.add(name="features", number=1, label=1, type=11, type_name=".kilntest.Features")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    descriptor = pool.FindMessageTypeByName("kilntest.Example")
    Example = message_factory.GetMessageClass(descriptor) \
        if hasattr(message_factory, "GetMessageClass") else \
        message_factory.MessageFactory(pool).GetPrototype(descriptor)
    theirs = Example()
    theirs.features.feature["label"].int64_list.value.extend([7, -3])
    theirs.features.feature["text"].bytes_list.value.append("naïve".encode())
    theirs.features.feature["x"].float_list.value.extend([0.25, -1.5])
    mine = T.Example.FromString(theirs.SerializeToString())
    assert mine.features.feature["label"].int64_list.value == [7, -3]
    assert mine.features.feature["text"].bytes_list.value == ["naïve".encode()]
    assert mine.features.feature["x"].float_list.value == [0.25, -1.5]
    assert mine.features.feature["x"].WhichOneof("kind") == "float_list"
    back = Example.FromString(mine.SerializeToString())
    assert back == theirs


def test_serialize_and_parse_tensor():
    # (the TensorProto bytes themselves are checked against protobuf in
    # test_tensor_proto_format.py; a scalar float32 1.0 by hand here)
    assert kiln.io.serialize_tensor(kiln.constant(1.0)).numpy() == \
        bytes.fromhex("0801 1200 2204 0000803f")
    values = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(["a", "bé", ""],
                                                                     dtype=object),
              np.array([True, False]), np.array([1 + 2j], np.complex64),
              np.arange(4, dtype=np.int64).reshape(2, 1, 2), np.float64(-0.5)]
    for value in values:
        t = kiln.constant(value)
        back = kiln.io.parse_tensor(kiln.io.serialize_tensor(t), t.dtype)
        assert back.dtype == t.dtype and back.shape == t.shape
        np.testing.assert_array_equal(np.asarray(back), np.asarray(t))
    with pytest.raises(errors.InvalidArgumentError, match="is float32, not int32"):
        kiln.io.parse_tensor(kiln.io.serialize_tensor(kiln.constant([1.0])), kiln.int32)
    # bfloat16: the bit patterns by hand (1.0 = 0x3F80, -2.5 = 0xC020).
    half = kiln.cast(kiln.constant([1.0, -2.5]), kiln.bfloat16)
    data = kiln.io.serialize_tensor(half).numpy()
    assert data == bytes.fromhex("080e 1204 1202 0802 2204 803f 20c0")
    back = kiln.io.parse_tensor(data, kiln.bfloat16)
    assert back.dtype == kiln.bfloat16
    assert kiln.cast(back, kiln.float32).numpy().tolist() == [1.0, -2.5]
    # Every bit pattern survives the round trip, signalling NaNs' payloads too
    # (odd counts, shapes and empty tensors included).
    from kiln import _tensor_proto
    for bits in (np.array([0x7F81, 0x7FBF, 0xFFC1, 0x0001, 0x8000], np.uint16),
                 np.arange(0, 65536, 257, dtype=np.uint16)[:255].reshape(5, 51),
                 np.zeros((0, 3), np.uint16)):
        data = _tensor_proto.encode_tensor(bits, "bfloat16")
        parsed = kiln.io.parse_tensor(data, kiln.bfloat16)
        assert parsed.shape == bits.shape
        again = kiln.io.serialize_tensor(parsed).numpy()
        assert _tensor_proto.decode_tensor(again)[0].tolist() == bits.tolist()
    with pytest.raises(errors.InvalidArgumentError, match="parse_tensor"):
        kiln.io.parse_tensor(b"\x08", kiln.float32)


def test_sparse_elements_in_datasets():
    sp = kiln.SparseTensor([[0, 1], [2, 0], [2, 2]], [1.0, 2.0, 3.0], [3, 3])
    ds = kiln.data.Dataset.from_tensor_slices(sp)
    rows = list(ds)
    assert all(isinstance(r, kiln.SparseTensor) and r.shape == (3,) for r in rows)
    np.testing.assert_array_equal(np.stack([r.numpy() for r in rows]), sp.numpy())
    assert ds.element_spec == kiln.SparseTensorSpec([3], kiln.float32)
    batched = next(iter(ds.batch(2)))
    np.testing.assert_array_equal(batched.numpy(), sp.numpy()[:2])
    back = list(ds.batch(2).unbatch())
    np.testing.assert_array_equal(np.stack([r.numpy() for r in back]), sp.numpy())
    shuffled = list(ds.shuffle(3, seed=1).batch(3))[0]
    assert sorted(map(tuple, shuffled.numpy().tolist())) == \
        sorted(map(tuple, sp.numpy().tolist()))
    with pytest.raises(errors.UnimplementedError, match="SparseTensor components"):
        list(ds.padded_batch(2))

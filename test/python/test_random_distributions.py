"""tf.random's distributions beyond uniform and normal (integer uniform,
categorical, shuffle, gamma, poisson), the stateless ops and Generator:
each sample checked against its distribution from SciPy (Kolmogorov-
Smirnov at the 1% level for continuous ones, the probability of every
value within four standard errors for discrete ones), with fixed seeds so
the checks are deterministic."""

import numpy as np
import pytest

import kiln

random = kiln.random
N = 20000


def _pmf_close(samples, pmf, values):
    """The frequency of each value within four standard errors (plus one
    count) of its probability."""
    for v in values:
        p = pmf(v)
        freq = np.mean(samples == v)
        assert abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / len(samples)) + 1 / len(samples), \
            (v, freq, p)


def test_integer_uniform_categorical_and_shuffle():
    k = random.uniform([N], 3, 9, dtype=kiln.int32, seed=1).numpy()
    assert k.dtype == np.int32 and k.min() == 3 and k.max() == 8
    _pmf_close(k, lambda v: 1 / 6, range(3, 9))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="needs maxval"):
        random.uniform([2], dtype=kiln.int64)
    with np.errstate(divide="ignore"):       # (log 0 = -inf: never drawn)
        logits = np.log([[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]])
    c = random.categorical(logits, N, seed=3).numpy()
    assert c.shape == (2, N) and c.dtype == np.int64
    _pmf_close(c[0], lambda v: [0.2, 0.5, 0.3][v], range(3))
    assert (c[1] == 1).all()
    # Compiled over an open batch of rows.
    f = kiln.function(lambda x: random.categorical(x, 4000, dtype=kiln.int32, seed=9),
                      input_signature=[kiln.TensorSpec([None, 3], kiln.float64)])
    rows = f(np.log([[0.1, 0.1, 0.8]] * 3)).numpy()
    assert rows.shape == (3, 4000)
    _pmf_close(rows.ravel(), lambda v: [0.1, 0.1, 0.8][v], range(3))
    x = np.arange(40).reshape(20, 2)
    s = random.shuffle(x, seed=4).numpy()
    assert sorted(map(tuple, s)) == sorted(map(tuple, x)) and not (s == x).all()
    assert (s[:, 1] == s[:, 0] + 1).all()           # (whole rows move)


@pytest.mark.parametrize("alpha,beta", [(0.3, 2.0), (1.0, 1.0), (2.5, 0.5), (30.0, 3.0)])
def test_gamma_samples_follow_the_distribution(alpha, beta):
    stats = pytest.importorskip("scipy.stats")
    g = random.gamma([N], alpha, beta, dtype=kiln.float64, seed=5).numpy()
    assert stats.kstest(g, stats.gamma(alpha, scale=1 / beta).cdf).statistic < 1.63 / np.sqrt(N)
    # Parameters broadcast after the sample shape; float32 by default.
    h = random.gamma([3000, 2], [[0.5], [4.0]], seed=6)
    assert h.shape == (3000, 2, 2, 1) and h.dtype == kiln.float32
    means = h.numpy().mean(axis=(0, 1))[:, 0]
    np.testing.assert_allclose(means, [0.5, 4.0], rtol=0.06)
    assert np.isnan(random.gamma([2], -1.0, seed=1).numpy()).all()


@pytest.mark.parametrize("lam", [0.5, 3.0, 11.9, 12.0, 50.0, 1000.0])
def test_poisson_samples_follow_the_distribution(lam):
    stats = pytest.importorskip("scipy.stats")
    p = random.poisson([N], lam, seed=7).numpy()
    assert p.dtype == np.float32 and (p == np.floor(p)).all()
    dist = stats.poisson(lam)
    lo, hi = int(dist.ppf(0.001)), int(dist.ppf(0.999))
    _pmf_close(p, dist.pmf, range(lo, hi + 1))
    assert abs(p.mean() - lam) < 4 * np.sqrt(lam / N)


def test_poisson_beta_from_gamma_compiled():
    # Beta(a, a) as mixup draws it, in a compiled step: new numbers each
    # call, the mean 1/2.
    @kiln.function
    def mix():
        x = random.gamma([4000], 0.4)
        y = random.gamma([4000], 0.4)
        return x / (x + y), random.poisson([4000], [2.0, 30.0], dtype=kiln.int32)
    (a, n), (b, _) = mix(), mix()
    assert not np.allclose(a.numpy(), b.numpy())
    assert abs(a.numpy().mean() - 0.5) < 0.03
    assert n.dtype == kiln.int32
    np.testing.assert_allclose(n.numpy().mean(axis=0), [2.0, 30.0], rtol=0.06)


def test_stateless_ops_and_generators(tmp_path):
    # Stateless: the numbers are a function of the seed alone, eagerly and
    # compiled; a different seed, different numbers.
    a = random.stateless_normal([5], seed=[1, 2]).numpy()
    f = kiln.function(lambda s: random.stateless_normal([5], seed=s))
    np.testing.assert_array_equal(f(np.array([1, 2])).numpy(), a)
    assert not np.allclose(random.stateless_normal([5], seed=[1, 3]).numpy(), a)
    u = random.stateless_uniform([N], seed=[4, 5], minval=-1, maxval=3, dtype=kiln.int64)
    _pmf_close(u.numpy(), lambda v: 0.25, range(-1, 3))
    c = random.stateless_categorical(np.log([[0.5, 0.5]]), 8, seed=[6, 7]).numpy()
    np.testing.assert_array_equal(
        c, random.stateless_categorical(np.log([[0.5, 0.5]]), 8, seed=[6, 7]).numpy())
    t = random.stateless_truncated_normal([N], seed=[8, 9]).numpy()
    assert np.abs(t).max() <= 2.0
    with pytest.raises(kiln.errors.InvalidArgumentError, match="shape \\[2\\]"):
        random.stateless_normal([2], seed=[1, 2, 3])
    # Generators: reproducible from a seed, each draw new, the state
    # advanced by compiled draws too and restored by a checkpoint.
    g1, g2 = random.Generator.from_seed(7), random.Generator.from_seed(7)
    np.testing.assert_array_equal(g1.normal([3]).numpy(), g2.normal([3]).numpy())
    step = kiln.function(lambda: g1.uniform([2]))
    first, second = step().numpy(), step().numpy()
    assert not np.allclose(first, second) and int(g1.state.numpy()) == 3
    checkpoint = kiln.train.Checkpoint(generator=g1)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    after = g1.normal([4]).numpy()
    checkpoint.restore(path)
    np.testing.assert_array_equal(g1.normal([4]).numpy(), after)
    seeds = g1.make_seeds(3)
    assert seeds.shape == (2, 3) and seeds.dtype == kiln.int64
    children = g1.split(2)
    assert not np.allclose(children[0].normal([3]).numpy(), children[1].normal([3]).numpy())


def test_review_cases_for_samplers_and_generators():
    # A pool beyond 2048 draws (sort-based duplicates): distinct classes.
    big = kiln.random.log_uniform_candidate_sampler(np.array([[1]]), 1, 1500, True, 100000,
                                                    seed=8)
    drawn = big.sampled_candidates.numpy()
    assert len(np.unique(drawn)) == 1500
    with pytest.raises(kiln.errors.UnimplementedError, match="2\\^53"):
        random.uniform([2], 0, 1 << 60, dtype=kiln.int64)
    g = random.Generator.from_seed(3)
    children = kiln.function(lambda: [c.normal([2]) for c in g.split(2)])()
    assert not np.allclose(children[0].numpy(), children[1].numpy())


def test_stateless_gamma_and_poisson():
    stats = pytest.importorskip("scipy.stats")
    seed = kiln.constant([3, 11])
    g = random.stateless_gamma([N], seed, 2.5, 0.5, dtype=kiln.float64).numpy()
    assert stats.kstest(g, stats.gamma(2.5, scale=2.0).cdf).statistic < 1.63 / np.sqrt(N)
    # A function of the seed alone: the same eagerly, again, and compiled;
    # another seed draws other numbers.
    np.testing.assert_array_equal(
        random.stateless_gamma([N], seed, 2.5, 0.5, dtype=kiln.float64).numpy(), g)
    f = kiln.function(lambda s: random.stateless_gamma([N], s, 2.5, 0.5, dtype=kiln.float64))
    np.testing.assert_array_equal(f(seed).numpy(), g)
    np.testing.assert_array_equal(f(seed).numpy(), g)
    assert not np.array_equal(f(kiln.constant([3, 12])).numpy(), g)
    p = random.stateless_poisson([N], [1, 2], [[4.0], [40.0]])
    assert p.dtype == kiln.int32 and p.shape == (N, 2, 1)
    for k, lam in enumerate((4.0, 40.0)):
        dist = stats.poisson(lam)
        lo, hi = int(dist.ppf(0.001)), int(dist.ppf(0.999))
        _pmf_close(p.numpy()[:, k, 0], dist.pmf, range(lo, hi + 1))
    np.testing.assert_array_equal(random.stateless_poisson([N], [1, 2], [[4.0], [40.0]]).numpy(),
                                  p.numpy())
    with pytest.raises(kiln.errors.InvalidArgumentError, match="shape \\[2\\] integer"):
        random.stateless_gamma([3], [1, 2, 3], 1.0)

"""The seeds' gradients: gradients_function of f(x, y) = x^2 + y^3, and
implicit_gradients with two variables where only one is used.

    PYTHONPATH=build/python_packages /usr/bin/python3 examples/python/gradients.py
"""

import kiln


def f(x, y):
    return x ** 2 + y ** 3


def main():
    gx, gy = kiln.gradients_function(f)(1.0, 2.0)
    print("df/dx, df/dy at (1, 2):", float(gx), float(gy))   # 2.0 12.0
    a = kiln.Variable(3.0, name="a")
    b = kiln.Variable(4.0, name="b")
    pairs = kiln.implicit_gradients(lambda: a * a)()
    print("implicit gradients:", [(float(g), v.name) for g, v in pairs])  # one pair
    return (float(gx), float(gy)), pairs


if __name__ == "__main__":
    main()

"""The seeds' eager basics: ops run at once, tensors iterate, NumPy interop.

    PYTHONPATH=build/python_packages /usr/bin/python3 examples/python/eager_basics.py
"""

import numpy as np

import kiln


def main():
    print(kiln.matmul([[2.0]], [[2.0]]))          # kiln.Tensor([[4.]], ...)
    kiln.random.set_seed(0)
    x = kiln.random.uniform((2, 3))
    total = 0.0
    for row in x:                                  # rows, then elements
        for value in row:
            total += float(value)
    print("sum of elements:", round(total, 4))
    print("NumPy on a tensor:", np.square(kiln.constant([1.0, 2.0])))
    print("a tensor from NumPy:", kiln.add(np.ones(2, np.float32), 1.0))
    return total, float(kiln.reduce_sum(x))


if __name__ == "__main__":
    main()

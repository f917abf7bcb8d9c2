"""How long rnnviz.trace takes, next to the same layer's own Keras call, measured in one run.

Setting (issue 2): an LSTM with batch 4, 100 timesteps, 32 units, 8 features.
Goal: trace at most 3 ms here, and at least 20 times faster than the Keras call.

    python benchmarks/bench_trace.py [--repeats 200]
"""

import argparse
import statistics
import time

import rnnviz  # first: quiet TensorFlow start-up
import tensorflow as tf
import keras
import numpy as np


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first calls build graphs and caches
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    batch, timesteps, units, features = 4, 100, 32, 8
    x = np.random.default_rng(0).normal(size=(batch, timesteps, features)).astype("float32")
    layer = keras.layers.LSTM(units, return_sequences=True, return_state=True)
    layer(x)

    t_trace = median_ms(lambda: rnnviz.trace(layer, x), args.repeats)
    t_keras = median_ms(lambda: layer(x), max(args.repeats // 4, 20))
    compiled = tf.function(layer)  # for context: the same call traced into a graph once
    t_graph = median_ms(lambda: compiled(x), max(args.repeats // 4, 20))
    print(f"LSTM batch={batch} timesteps={timesteps} units={units} features={features}")
    print(f"rnnviz.trace   median {t_trace:7.2f} ms  ({args.repeats} runs)")
    print(f"Keras layer(x) median {t_keras:7.2f} ms  ({max(args.repeats // 4, 20)} runs)")
    print(f"(context) tf.function(layer)(x) median {t_graph:7.2f} ms")
    print(f"trace is {t_keras / t_trace:.1f}x faster than the Keras call (goal: <= 3 ms and >= 20x)")


if __name__ == "__main__":
    main()

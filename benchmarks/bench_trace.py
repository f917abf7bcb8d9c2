"""How long rnnviz.trace takes, next to the same layer's own Keras call, measured in one run.

Setting (issue 2): an LSTM with batch 4, 100 timesteps, 32 units, 8 features.
Goal: trace at most 3 ms here, and at least 20 times faster than the Keras call.

Second setting (issue 11): rnnviz.trace of a ConvLSTM2D(8, 3) over x (2, 10, 16, 16, 3), reading the
weights included. Goal: at most 50 ms median here, and faster than that layer's eager Keras call.

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

    conv_x = np.random.default_rng(1).normal(size=(2, 10, 16, 16, 3)).astype("float32")
    conv = keras.layers.ConvLSTM2D(8, 3)
    conv(conv_x)
    conv_repeats = max(args.repeats // 4, 20)
    t_conv_trace = median_ms(lambda: rnnviz.trace(conv, conv_x), conv_repeats)
    t_conv_keras = median_ms(lambda: conv(conv_x), conv_repeats)
    print()
    print(f"ConvLSTM2D(8, 3) over x {conv_x.shape} (batch, timesteps, rows, cols, channels)")
    print(f"rnnviz.trace   median {t_conv_trace:7.2f} ms  ({conv_repeats} runs)")
    print(f"Keras layer(x) median {t_conv_keras:7.2f} ms  ({conv_repeats} runs)")
    print(f"rnnviz.trace is {t_conv_keras / t_conv_trace:.1f}x faster than the Keras call (goal: <= 50 ms and faster)")


if __name__ == "__main__":
    main()

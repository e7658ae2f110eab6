"""Seconds per DCGAN training step: helpers.gan.DCGAN vs the tensorflow.org DCGAN tutorial loop.

Three ways to train the same architecture on the same prefetched batches, side by side:

* ``helpers``: ``DCGAN.train_step`` through Keras' compiled train function (what ``fit`` calls;
  graph mode, no XLA); alternating updates (D step on real+fake, then G step on the D step's fakes).
* ``tutorial (tf.function)``: the tutorial's ``@tf.function train_step`` (one forward of G and two
  of D shared by both tapes: simultaneous updates), called from a Python loop over the dataset.
* ``tutorial (eager)``: the same step without ``@tf.function``.

The loops run round-robin, one step each in turn (the CPU is shared, so its speed drifts);
medians of ``--steps`` steps after ``--warmup`` steps, plus generated images per second
(``generate_images``, batches of 1,000). An analytic FLOP count of each step and the measured
matmul throughput of this CPU say what bounds the step. Writes build/benchmarks/gan.json.

    python benchmarks/bench_gan.py --sizes 28 64 --steps 5

With ``--options`` it times instead what each option of :func:`helpers.gan.train_gan` costs per
training step: the paper's DCGAN (``dcgan``) against each option alone and the limited-data presets, all
through ``DCGAN.train_step`` on the same batches, round-robin (``--variants``: a subset). Writes
build/benchmarks/gan_options.json.

    python benchmarks/bench_gan.py --options --sizes 28 64 --steps 8 --generator-filters 256
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers.core.artifacts import atomic_write  # noqa: E402
from helpers.gan import (  # noqa: E402
    DCGAN,
    SUPPORTED_SIZES,
    build_discriminator,
    build_generator,
    build_networks,
    gan_options,
    generate_images,
    make_gan_dataset,
)
from helpers.gan.losses import make_loss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def forward_macs(model: keras.Model) -> float:
    """Multiply-accumulates of one forward pass for one sample (Dense, Conv2D, Conv2DTranspose)."""
    macs = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            macs += layer.kernel.shape[0] * layer.kernel.shape[1]
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            h, w, cin = layer.input.shape[1:]
            k = layer.kernel_size[0] * layer.kernel_size[1]
            macs += h * w * k * cin * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            h, w = layer.output.shape[1:3]
            cin = layer.input.shape[-1]
            k = layer.kernel_size[0] * layer.kernel_size[1]
            macs += h * w * k * cin * layer.filters
    return float(macs)


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    """Best float32 matmul throughput of this machine (about what conv kernels can reach)."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    f(a, b).numpy()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f(a, b).numpy()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / min(times) / 1e9


def helpers_step(size: int, ds: tf.data.Dataset, args: argparse.Namespace) -> Callable[[], float]:
    """One ``DCGAN.train_step`` through Keras' compiled train function (what ``fit`` calls)."""
    keras.utils.set_random_seed(0)
    gan = DCGAN(build_generator(size, base_filters=args.generator_filters),
                build_discriminator(size, base_filters=args.discriminator_filters))
    gan.compile()
    gan.build_optimizers()
    gan.make_train_function()
    iterator = iter(ds)
    return lambda: float(gan.train_function(iterator)["d_loss"])


def tutorial_step(size: int, ds: tf.data.Dataset, args: argparse.Namespace, graph: bool) -> Callable[[], float]:
    """tensorflow.org/tutorials/generative/dcgan's training step on the same networks and data."""
    keras.utils.set_random_seed(0)
    generator = build_generator(size, base_filters=args.generator_filters)
    discriminator = build_discriminator(size, base_filters=args.discriminator_filters)
    cross_entropy = keras.losses.BinaryCrossentropy()  # D ends in a sigmoid here
    generator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
    discriminator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)

    def train_step(images):
        noise = tf.random.normal([args.batch, 100])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                         + cross_entropy(tf.zeros_like(fake_output), fake_output))
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(
            zip(gradients_of_generator, generator.trainable_variables, strict=True))
        discriminator_optimizer.apply_gradients(
            zip(gradients_of_discriminator, discriminator.trainable_variables, strict=True))
        return disc_loss

    step = tf.function(train_step) if graph else train_step
    iterator = iter(ds)  # the tutorial's `for image_batch in dataset: train_step(image_batch)`
    return lambda: float(step(next(iterator)))


def time_interleaved(steps: dict[str, Callable[[], float]], args: argparse.Namespace) -> dict[str, float]:
    """Median seconds per step of each method, run round-robin so they share the CPU's moods."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for i in range(args.warmup + args.steps):
        for name in names[i % len(names):] + names[: i % len(names)]:  # rotate the order
            t0 = time.perf_counter()
            steps[name]()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_generation(size: int, args: argparse.Namespace) -> float:
    keras.utils.set_random_seed(0)
    generator = build_generator(size, base_filters=args.generator_filters)
    generator.gan_steps_trained = 1  # speed only: random weights are fine
    generate_images(generator, 1000, seed=0)  # warm-up
    t0 = time.perf_counter()
    generate_images(generator, args.gen_images, seed=1)
    return args.gen_images / (time.perf_counter() - t0)


#: What ``--options`` times: a name -> (preset, overrides) of :func:`helpers.gan.gan_options`.
OPTION_VARIANTS: dict[str, tuple[str, dict]] = {
    "dcgan (paper)": ("dcgan", {}),
    "+ DiffAugment": ("dcgan", {"diffaugment": "color,translation,cutout"}),
    "+ spectral norm": ("dcgan", {"spectral_norm": True}),
    "+ minibatch std": ("dcgan", {"minibatch_std": True}),
    "+ EMA": ("dcgan", {"ema_decay": 0.999}),
    "hinge loss": ("dcgan", {"loss": "hinge"}),
    "+ R1 (gamma 1)": ("dcgan", {"r1_gamma": 1.0}),
    "conditional": ("dcgan", {"conditional": True}),
    "resize-conv upsampling (G)": ("dcgan", {"upsample": "resize"}),
    "residual G blocks": ("dcgan", {"upsample": "resize", "residual": True}),
    "preset sn_diffaug_ema": ("sn_diffaug_ema", {}),
    "preset sn_diffaug_ema_cond": ("sn_diffaug_ema_cond", {}),
    "preset sn_diffaug_ema_resize": ("sn_diffaug_ema_resize", {}),
    "preset sn_diffaug_ema_resblock": ("sn_diffaug_ema_resblock", {}),
}
PAPER = "dcgan (paper)"


def option_step(size: int, ds: tf.data.Dataset, labeled: tf.data.Dataset, args: argparse.Namespace,
                preset: str, overrides: dict) -> Callable[[], float]:
    """One ``DCGAN.train_step`` with these options, through Keras' compiled train function."""
    opts = gan_options(preset, **overrides)
    keras.utils.set_random_seed(0)
    g, d = build_networks(size, opts, generator_filters=args.generator_filters,
                          discriminator_filters=args.discriminator_filters, num_classes=2)
    gan = DCGAN(g, d, num_classes=2 if opts["conditional"] else None, loss=make_loss(opts),
                r1_gamma=opts["r1_gamma"], diffaugment=opts["diffaugment"], ema_decay=opts["ema_decay"])
    gan.compile(d_lr=opts["d_lr"], g_lr=opts["g_lr"], beta_1=opts["beta_1"])
    gan.build_optimizers()
    gan.make_train_function()
    iterator = iter(labeled if opts["conditional"] else ds)
    return lambda: float(gan.train_function(iterator)["d_loss"])


def main_options(args: argparse.Namespace) -> dict:
    """Seconds per training step of each option (``--options``)."""
    rows = []
    for size in args.sizes:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (args.batch * 4, size, size), dtype=np.uint8)
        labels = rng.integers(0, 2, len(images))
        ds = make_gan_dataset(images, batch_size=args.batch, seed=0).repeat()
        labeled = make_gan_dataset(images, batch_size=args.batch, seed=0, labels=labels).repeat()
        chosen = {name: OPTION_VARIANTS[name] for name in OPTION_VARIANTS if name in {PAPER, *args.variants}
                  or not args.variants}
        print(f"[{size} px] building and tracing {len(chosen)} variants ...", file=sys.stderr, flush=True)
        steps = {name: option_step(size, ds, labeled, args, preset, overrides)
                 for name, (preset, overrides) in chosen.items()}
        print(f"[{size} px] timing them interleaved ...", file=sys.stderr, flush=True)
        times = time_interleaved(steps, args)
        base = times[PAPER]
        rows += [{"size": size, "variant": name, "s_step": t, "x_paper": t / base} for name, t in times.items()]

    print(f"\nCPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; TensorFlow "
          f"{tf.__version__}, Keras {keras.__version__}; batch {args.batch}, G filters "
          f"{args.generator_filters}, D filters {args.discriminator_filters}; medians of {args.steps} steps "
          f"after {args.warmup}\n")
    sizes = sorted({r["size"] for r in rows})
    print("| variant | " + " | ".join(f"{s} px s/step (x paper)" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name in dict.fromkeys(r["variant"] for r in rows):
        cells = [next(f"{r['s_step']:.3f} ({r['x_paper']:.2f}x)" for r in rows if r["size"] == s and r["variant"] == name)
                 for s in sizes]
        print(f"| {name} | " + " | ".join(cells) + " |")
    result = {"machine": {"cpu_count": os.cpu_count(), "processor": platform.processor(),
                          "tensorflow": tf.__version__, "keras": keras.__version__},
              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "rows": rows}
    out = args.out.with_name("gan_options.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SUPPORTED_SIZES),
                        choices=SUPPORTED_SIZES)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per method (median)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (tracing)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--generator-filters", type=int, default=512)
    parser.add_argument("--discriminator-filters", type=int, default=64)
    parser.add_argument("--gen-images", type=int, default=2000)
    parser.add_argument("--no-eager", action="store_true", help="skip the (slow) eager loop")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "gan.json")
    parser.add_argument("--options", action="store_true",
                        help="time each train_gan option against the paper's DCGAN instead (gan_options.json)")
    parser.add_argument("--variants", nargs="+", default=[], choices=sorted(OPTION_VARIANTS), metavar="NAME",
                        help=f"with --options: only these (and {PAPER!r}); default all of {sorted(OPTION_VARIANTS)}")
    args = parser.parse_args(argv)
    if args.options:
        return main_options(args)

    peak = matmul_gflops()
    rows = []
    for size in args.sizes:
        images = np.random.default_rng(0).integers(0, 256, (args.batch * 4, size, size), dtype=np.uint8)
        ds = make_gan_dataset(images, batch_size=args.batch, seed=0).repeat()
        g = build_generator(size, base_filters=args.generator_filters)
        d = build_discriminator(size, base_filters=args.discriminator_filters)
        gf, df = 2 * forward_macs(g), 2 * forward_macs(d)  # forward FLOPs per sample
        # training pass ~ 3x forward (forward, input grads, weight grads)
        ours_flops = args.batch * (3 * gf + 3 * 2 * df + 2 * df)  # D step on 2B, G step through D
        tut_flops = args.batch * (3 * gf + 2 * 2 * df + df)  # one D forward on 2B shared
        row = {"size": size, "batch": args.batch, "gflop_step_helpers": ours_flops / 1e9,
               "gflop_step_tutorial": tut_flops / 1e9}
        print(f"[{size} px] building and tracing ...", file=sys.stderr, flush=True)
        steps = {"s_helpers": helpers_step(size, ds, args),
                 "s_tutorial_graph": tutorial_step(size, ds, args, graph=True)}
        if not args.no_eager:
            steps["s_tutorial_eager"] = tutorial_step(size, ds, args, graph=False)
        print(f"[{size} px] timing {len(steps)} loops interleaved ...", file=sys.stderr, flush=True)
        row.update(time_interleaved(steps, args))
        row["images_per_s"] = bench_generation(size, args)
        row["gflops_helpers"] = row["gflop_step_helpers"] / row["s_helpers"]
        row["gflops_tutorial_graph"] = row["gflop_step_tutorial"] / row["s_tutorial_graph"]
        rows.append(row)

    print(f"\nCPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}; batch {args.batch}, "
          f"G filters {args.generator_filters}, D filters {args.discriminator_filters}; "
          f"medians of {args.steps} steps after {args.warmup}; matmul peak {peak:.0f} GFLOP/s\n")
    print("| size | helpers s/step | tutorial @tf.function s/step | tutorial eager s/step "
          "| speed-up vs @tf.function | vs eager | GFLOP/step helpers / tutorial "
          "| achieved GFLOP/s helpers / tutorial | generated img/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        eager = r.get("s_tutorial_eager")
        r["speedup_vs_tutorial_graph"] = r["s_tutorial_graph"] / r["s_helpers"]
        r["speedup_vs_tutorial_eager"] = eager / r["s_helpers"] if eager else None
        eager_s = f"{eager:.3f}" if eager else "-"
        eager_x = f"{r['speedup_vs_tutorial_eager']:.2f}x" if eager else "-"
        print(f"| {r['size']} | {r['s_helpers']:.3f} | {r['s_tutorial_graph']:.3f} | "
              f"{eager_s} | {r['speedup_vs_tutorial_graph']:.2f}x | {eager_x} | "
              f"{r['gflop_step_helpers']:.1f} / {r['gflop_step_tutorial']:.1f} | "
              f"{r['gflops_helpers']:.0f} / {r['gflops_tutorial_graph']:.0f} | {r['images_per_s']:.0f} |")

    goal = 1.3
    print()
    for r in rows:
        ratio = r["speedup_vs_tutorial_graph"]
        if ratio >= goal:
            print(f"{r['size']} px: {ratio:.2f}x the tutorial's @tf.function loop (goal {goal}x reached).")
            continue
        use = r["gflops_helpers"] / peak
        bound = (
            f"compute-bound: {r['gflops_helpers']:.0f} GFLOP/s achieved = {use:.0%} of the "
            f"{peak:.0f} GFLOP/s float32 matmul peak" if use > 0.5 else
            f"not compute-bound ({r['gflops_helpers']:.0f} GFLOP/s = {use:.0%} of the {peak:.0f} "
            f"GFLOP/s matmul peak): overhead or memory traffic dominates at this size"
        )
        print(
            f"{r['size']} px: {ratio:.2f}x the tutorial's @tf.function loop (goal {goal}x not "
            f"reached). Both run as one TensorFlow graph on the same oneDNN kernels, so the "
            f"tutorial has no Python overhead left to remove; the step is {bound}. The alternating "
            f"update (G step against the updated D) needs "
            f"{r['gflop_step_helpers'] / r['gflop_step_tutorial']:.2f}x the FLOPs of the "
            f"tutorial's simultaneous update, so about {1 / (r['gflop_step_helpers'] / r['gflop_step_tutorial']):.2f}x is the float32 ceiling; "
            f"left levers: bfloat16 compute or fewer generator filters."
            + (f" Against eager execution it is {r['speedup_vs_tutorial_eager']:.2f}x." if r.get(
                "speedup_vs_tutorial_eager") else "")
        )

    result = {"machine": {"cpu_count": os.cpu_count(), "processor": platform.processor(),
                          "tensorflow": tf.__version__, "keras": keras.__version__,
                          "matmul_gflops": peak},
              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()

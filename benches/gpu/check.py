"""The GPU check: on a machine with one NVIDIA GPU, no network and no Rust toolchain, with the
binary from `cargo xtask cuda-build` (target/cuda/socgan) and PyTorch for CUDA 13:

1. a shortened oracle table (MLE, then SeqGAN and RelGAN from it, on a random oracle of the
   SeqGAN shape: vocabulary 5,000, hidden 32, length 20) trained on CUDA and on the CPU with
   one seed: NLL_oracle side by side, with each run's seconds;
2. full-size workloads against PyTorch on the same GPU, alternating socgan and the peer
   (PAIRS pairs, each the median of 3 timed repetitions inside its process): a RelGAN step
   (5 D steps + 1 G step, batch 64), a DCGAN step at 64x64, a SASRec epoch on a synthetic log
   of Amazon Games' size, and encoding 512 posts with a MiniLM-shaped BERT of random weights.

Writes runs/gpu-check/gpu-check.{md,json} and prints the tables; meant to finish in under 5
minutes on an H100. The binary is target/cuda/socgan, or target/cuda/socgan.gz unpacked (what
travels to a GPU machine: the stripped binary is larger than what may be carried). Usage, from
the repository root:

    python3 benches/gpu/check.py [--socgan target/cuda/socgan] [--out runs/gpu-check] [--pairs 2]
    python3 benches/gpu/check.py --device cpu ...   # a dry run of the script without a GPU
"""
import argparse
import glob
import gzip
import json
import os
import shutil
import site
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEERS = os.path.join(ROOT, "benches", "peers")
CUDA_LIBS = ["libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libnvrtc.so.13",
             "libcurand.so.10"]

# The shortened oracle protocol: the quick configs with fewer epochs, rounds and samples.
ORACLE = [
    "data.oracle={ source = \"random\", seed = 0 }",
    "data.num_train=10000",
    "data.num_test=2000",
    "data.eval_samples=2000",
]
SCHEDULES = {
    "mle": ["schedule.mle_epochs=3", "schedule.mle_eval_every_epochs=3",
            "schedule.mle_checkpoint_every_epochs=3"],
    "seqgan": ["schedule.discriminator_pretrain_steps=20", "schedule.adversarial_rounds=4",
               "schedule.adversarial_eval_every=4", "schedule.checkpoint_every=4"],
    "relgan": ["schedule.adversarial_rounds=20", "schedule.adversarial_eval_every=20",
               "schedule.checkpoint_every=20"],
}


def cuda_library_path():
    """Folders of PyTorch's CUDA 13 libraries (nvidia/cu13/lib and the like)."""
    roots = site.getsitepackages() + [site.getusersitepackages()]
    folders = set()
    for root in roots:
        for lib in CUDA_LIBS:
            for path in glob.glob(os.path.join(root, "nvidia", "**", lib), recursive=True):
                folders.add(os.path.dirname(path))
    return sorted(folders)


def unpacked_socgan(path, out):
    """The binary to run: `path`, or its `.gz` (how `cargo xtask cuda-build` packs it to
    travel) unpacked into `out`."""
    if os.path.exists(path):
        return path
    packed = path + ".gz"
    if not os.path.exists(packed):
        raise SystemExit(f"{path} not found (build it with `cargo xtask cuda-build`)")
    target = os.path.join(out, "socgan")
    with gzip.open(packed, "rb") as src, open(target + ".partial", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.chmod(target + ".partial", 0o755)
    os.replace(target + ".partial", target)
    return target


def run(cmd, env, timeout=240):
    started = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout, seconds


def oracle_table(socgan, out, env, device_under_test):
    rows = []
    for device in [device_under_test, "cpu"]:
        folder = os.path.join(out, "oracle", device.replace(":", "") + ("-reference" if rows else ""))
        for model in ["mle", "seqgan", "relgan"]:
            cmd = [socgan, "train", "--quiet", "--device", device, "--overwrite",
                   "--config", os.path.join(ROOT, "configs", "oracle-quick", f"{model}.toml"),
                   "--out-dir", os.path.join(folder, model)]
            sets = ORACLE + SCHEDULES[model]
            if model != "mle":
                sets.append(f"init_from={json.dumps(os.path.join(folder, 'mle'))}")
            for s in sets:
                cmd += ["--set", s]
            stdout, seconds = run(cmd, env, timeout=300)
            final = json.loads(stdout.strip().splitlines()[-1])["final"]
            rows.append({"device": device, "model": model, "seconds": seconds,
                         "nll_oracle": final.get("test/nll_oracle"),
                         "nll_gen": final.get("test/nll_gen")})
            print(f"  oracle {model} on {device}: NLL_oracle {rows[-1]['nll_oracle']} "
                  f"in {seconds:.1f} s", flush=True)
    return rows


def synthetic_inputs(out, env):
    """A SASRec log of Amazon Games' size and a MiniLM-shaped model with its texts."""
    log = os.path.join(out, "games-like.txt")
    code = (
        "import numpy as np\n"
        "rng = np.random.default_rng(0)\n"
        "users, items = 31013, 23715\n"
        "cdf = np.cumsum(1.0 / np.arange(1, items + 1) ** 0.8)\n"
        "lengths = 5 + rng.poisson(4.3, users)\n"
        "drawn = np.searchsorted(cdf / cdf[-1], rng.random(lengths.sum())) + 1\n"
        "owners = np.repeat(np.arange(1, users + 1), lengths)\n"
        f"with open({log!r}, 'w') as f:\n"
        "    f.writelines(f'{u} {i}\\n' for u, i in zip(owners, drawn))\n"
    )
    if not os.path.exists(log):
        run([sys.executable, "-c", code], env)
    model = os.path.join(out, "minilm-shaped")
    if not os.path.exists(os.path.join(model, "model.safetensors")):
        run([sys.executable, os.path.join(PEERS, "bert_shaped.py"), "make", model, "--texts", "512"],
            env)
    return log, model


def workloads(log, model, sasrec_batches, threads):
    """(name, socgan bench environment, peer command, field of the peer's seconds); the peer
    gets socgan's CPU thread count."""
    texts = os.path.join(model, "texts.txt")
    return [
        ("relgan-step", {}, ["relgan_step.py", threads, "3"], "seconds"),
        ("dcgan-step", {}, ["image_gans.py", "dcgan-step", threads, "3"], "seconds"),
        ("sasrec-epoch", {"SOCGAN_BENCH_LOG": log, "SOCGAN_BENCH_BATCHES": str(sasrec_batches)},
         ["sasrec_epoch.py", "--threads", threads, "--loss", "bce", "--data", log,
          "--batches", str(sasrec_batches)], "epoch_s"),
        ("minilm-encode", {"SOCGAN_MINILM": model, "SOCGAN_BENCH_TEXTS": texts,
                           "SOCGAN_BENCH_TWEETS": "512"},
         ["bert_shaped.py", "encode", "--model-dir", model, "--texts", texts, "--limit", "512", "--threads", threads],
         "encode_s"),
    ]


def peer_seconds(stdout, field):
    for token in stdout.split():
        if token.startswith(field + "="):
            return float(token.split("=", 1)[1])
    raise RuntimeError(f"no {field} in the peer's output: {stdout}")


def speed_table(socgan, out, env, pairs, device, sasrec_batches):
    log, model = synthetic_inputs(out, env)
    rows = []
    for name, socgan_env, peer, field in workloads(log, model, sasrec_batches,
                                                  env["RAYON_NUM_THREADS"]):
        ours, theirs, ratios = [], [], []
        for _ in range(pairs):
            stdout, _ = run([socgan, "bench", "--workload", name, "--device", device,
                             "--repeats", "3"], {**env, **socgan_env})
            a = json.loads(stdout.strip().splitlines()[-1])["seconds"]
            stdout, _ = run([sys.executable, os.path.join(PEERS, peer[0])] + peer[1:],
                            {**env, "PEER_DEVICE": "cpu" if device == "cpu" else "cuda"})
            b = peer_seconds(stdout, field)
            ours.append(a)
            theirs.append(b)
            ratios.append(b / a)
        rows.append({"workload": name, "socgan_s": statistics.median(ours),
                     "pytorch_s": statistics.median(theirs),
                     "speedup": statistics.median(ratios), "pairs": pairs})
        print(f"  {name}: socgan {rows[-1]['socgan_s']:.4f} s, PyTorch {rows[-1]['pytorch_s']:.4f} s,"
              f" {rows[-1]['speedup']:.2f}x", flush=True)
    return rows


def markdown(gpu, oracle, speed):
    lines = [f"GPU: {gpu}", "", "| model | CPU NLL_oracle | CUDA NLL_oracle | difference | CPU s | CUDA s |",
             "|---|---|---|---|---|---|"]
    for model in ["mle", "seqgan", "relgan"]:
        rows = [r for r in oracle if r["model"] == model]
        gpu_row, cpu = (rows + [None, None])[:2]
        if cpu and gpu_row and cpu["nll_oracle"] is not None and gpu_row["nll_oracle"] is not None:
            lines.append(f"| {model} | {cpu['nll_oracle']:.4f} | {gpu_row['nll_oracle']:.4f} | "
                         f"{gpu_row['nll_oracle'] - cpu['nll_oracle']:+.4f} | {cpu['seconds']:.1f} | "
                         f"{gpu_row['seconds']:.1f} |")
    lines += ["", "| workload | socgan s | PyTorch s | speedup (PyTorch s / socgan s) |", "|---|---|---|---|"]
    for r in speed:
        lines.append(f"| {r['workload']} | {r['socgan_s']:.4f} | {r['pytorch_s']:.4f} | {r['speedup']:.2f}x |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socgan", default=os.path.join(ROOT, "target", "cuda", "socgan"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "gpu-check"))
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--skip-oracle", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="CPU threads of socgan (RAYON_NUM_THREADS) and of the PyTorch peers")
    ap.add_argument("--sasrec-batches", type=int, default=243,
                    help="batches of 128 users in the SASRec epoch (243: all of Amazon Games)")
    ap.add_argument("--device", default="cuda:0",
                    help="the device under test (cpu: a dry run of the script on a machine without a GPU)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    args.socgan = unpacked_socgan(args.socgan, args.out)
    env = dict(os.environ)
    inherited = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
    env["LD_LIBRARY_PATH"] = ":".join(cuda_library_path() + inherited)
    env["RAYON_NUM_THREADS"] = str(args.threads)
    if args.device == "cpu":
        gpu = "none (a dry run on the CPU)"
    else:
        gpu, _ = run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                      "--format=csv,noheader"], env)
        gpu = gpu.strip()
    print(f"GPU: {gpu}\nCUDA libraries: {env['LD_LIBRARY_PATH']}", flush=True)
    started = time.perf_counter()
    oracle = [] if args.skip_oracle else oracle_table(args.socgan, args.out, env, args.device)
    speed = speed_table(args.socgan, args.out, env, args.pairs, args.device,
                        args.sasrec_batches)
    table = markdown(gpu, oracle, speed)
    print("\n" + table)
    print(f"the check took {time.perf_counter() - started:.0f} s")
    with open(os.path.join(args.out, "gpu-check.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "gpu-check.json"), "w") as f:
        json.dump({"gpu": gpu, "oracle": oracle, "speed": speed}, f, indent=1)


if __name__ == "__main__":
    main()

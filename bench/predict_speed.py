"""Prediction speed: wav files in, labels out (decoding, features, model), as `serzoo predict` does it.

Run: python bench/predict_speed.py [--model MODEL.keras|RUN_DIR] [--wavs FOLDER] [--n 200] [--repeat 5]
Default model: cnn1d,attention,dense trained for 2 epochs on the first fold of the demo corpus
(give --model for a real one, such as a model trained on EmoDB log-mel features).
Default audio: the EmoDB wav files (/work/shared/data/emodb/wav, 2 s each at 22.05 kHz).
Two figures: batch throughput (many files per call: utterances/s, real-time factor) and
one file at a time (the latency of a live caller). Model loading is timed apart.
Prints the figures and writes them to bench/results/predict_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EMODB_WAVS = "/work/shared/data/emodb/wav"


def quick_model(folder: Path) -> Path:
    """A small cnn1d,attention,dense model trained briefly on the demo corpus (its features: 16 kHz log-mel)."""
    from serzoo.data.demo import default_demo_path
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    config = TrainConfig(data=str(default_demo_path()), tasks="emotion", blocks="cnn1d,attention,dense",
                         epochs=2, patience=0, jit_compile=False, max_folds=1)
    run(prepare(config), folder / "run", echo=lambda m: None)
    return folder / "run" / "fold00" / "model.keras"


def time_batch(predictor, featurizer, wavs) -> float:
    from serzoo.inference.inputs import read_inputs
    from serzoo.inference.predict import predict_records

    start = time.perf_counter()
    utts = read_inputs(wavs, lambda: featurizer, predictor.example_shape, predictor.feature_settings, "model")
    predict_records(predictor, utts)
    return time.perf_counter() - start


def time_single(predictor, featurizer, wavs) -> list[float]:
    from serzoo.inference.inputs import read_inputs
    from serzoo.inference.predict import predict_records

    times = []
    for wav in wavs:
        start = time.perf_counter()
        utts = read_inputs([wav], lambda: featurizer, predictor.example_shape, predictor.feature_settings, "model")
        predict_records(predictor, utts)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a .keras model or run directory; default: a quick demo model")
    parser.add_argument("--wavs", default=EMODB_WAVS, help="folder of wav files")
    parser.add_argument("--n", type=int, default=200, help="wav files used (the first N, sorted)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of the batch timing")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "predict_speed.json"))
    args = parser.parse_args()

    import soundfile

    from serzoo.core.tf import import_tensorflow
    from serzoo.inference.inputs import Featurizer
    from serzoo.inference.models import load_predictor

    wavs = sorted(Path(args.wavs).rglob("*.wav"))[:args.n]
    audio_s = sum(soundfile.info(str(w)).duration for w in wavs)
    import_tensorflow()  # its import is not the model's loading time
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(quick_model(Path(tmp)))
        start = time.perf_counter()
        predictor = load_predictor(model)
        load_s = time.perf_counter() - start
        featurizer = Featurizer(predictor.feature_settings, predictor.metadata["file_layout"], predictor.example_shape)
        time_batch(predictor, featurizer, wavs)  # warm-up: file cache, traced graphs for each batch size
        batch = [time_batch(predictor, featurizer, wavs) for _ in range(args.repeat)]
        single = time_single(predictor, featurizer, wavs[:50])
    batch_s = statistics.median(batch)
    single_s = statistics.median(single)
    mean_audio = audio_s / len(wavs)
    figures = {
        "batch_utterances_per_s": len(wavs) / batch_s,
        "batch_real_time_factor": batch_s / audio_s,
        "single_latency_s": single_s,
        "single_real_time_factor": single_s / mean_audio,
        "model_load_s": load_s,
    }
    print(f"model: {args.model or 'quick demo model (cnn1d,attention,dense)'} ({len(predictor.models)} member(s), "
          f"input {predictor.example_shape}); audio: {len(wavs)} files from {args.wavs}, {audio_s:.0f} s; "
          f"{os.cpu_count()} cpus")
    print(f"batch:  {figures['batch_utterances_per_s']:.1f} utterances/s, real-time factor "
          f"{figures['batch_real_time_factor']:.4f} (runs {', '.join(f'{b:.2f}' for b in batch)} s)")
    print(f"single: {single_s * 1000:.0f} ms per file (median of {len(single)}), real-time factor "
          f"{figures['single_real_time_factor']:.4f}")
    print(f"model load: {load_s:.2f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "model": args.model or "quick demo model (cnn1d,attention,dense)", "members": len(predictor.models),
        "example_shape": list(predictor.example_shape), "wavs": args.wavs, "files": len(wavs),
        "audio_s": audio_s, "batch_runs_s": batch, "single_runs_s": single, **figures,
        "python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()

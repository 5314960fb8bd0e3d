"""Latency of the Gradio demo's endpoints on a 224x224 image, against the bare encoder forward on the same input.

The app is served by `hf-jepa demo` in its own process with the main job's models (`hf-jepa pretrain --method
ijepa|mae|dino|vjepa --output_dir DIR`, 32 px models) and the full digits gallery, and called through
`gradio_client` from this process as a visitor's browser would: upload, run, answer; and, in other rows, with the
result files downloaded one after the other. The model-side work of each endpoint is also timed here without the
web layer, and the baseline is the models' processor + encoder forward on the same image. Everything is timed in
turns in the same run after warm-up calls.
"""

import functools
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import numpy as np
import torch
from _results import make_parser, markdown_table, report, restart_load_measurement, time_ms
from PIL import Image

from hf_jepa.demo.embeddings import embedding_view
from hf_jepa.demo.loading import DemoStore, encode_images
from hf_jepa.demo.predictions import PredictionRequest, predict

DEFAULT_MODELS = [f"/tmp/demo_models/{method}" for method in ("ijepa", "mae", "dino")]
IMAGE_SIDE = 224


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(port: int, server: subprocess.Popen, timeout_s: float = 600.0) -> str:
    """The URL once `hf-jepa demo` answers (it loads the models and embeds the gallery first)."""
    url, deadline = f"http://127.0.0.1:{port}/", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"`hf-jepa demo` exited with code {server.returncode}.")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return url
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"`hf-jepa demo` did not answer on {url} within {timeout_s:.0f} s.")


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="Folders saved by `hf-jepa pretrain`.")
    parser.add_argument("--reps", type=int, default=20, help="Timed calls of each candidate (median reported).")
    parser.add_argument("--gallery-images", type=int, default=None, help="Embed only the first N digits.")
    args = parser.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from gradio_client import Client, handle_file

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8))
    workdir = tempfile.mkdtemp(prefix="bench_demo_")
    image_path = os.path.join(workdir, "input.png")
    image.save(image_path)

    store = DemoStore(args.gallery_images)
    models = [store.model(name) for name in args.models]
    request = PredictionRequest(image, seed=0)

    def encoders():
        with torch.no_grad():
            for model in models:
                encode_images(model, [image])

    def embed_in_process():
        for model in models:
            embedding_view(model, image, store.gallery("digits"), store.gallery_embedding(model, "digits"))

    def predict_in_process():
        for model in models:
            predict(model, request)

    port = free_port()
    command = ["hf-jepa", "demo", "--port", str(port), "--allow_loading", "false", "--model", *args.models]
    if args.gallery_images:
        command += ["--max_gallery_images", str(args.gallery_images)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = wait_for_server(port, server)
        restart_load_measurement()  # the server's start (loading, embedding the gallery) is not load on the timings
        # A browser fetches the result images in parallel once the endpoint answers: time the answer (files left
        # on the server, their URLs returned) and the client's full round trip with sequential downloads apart.
        answering = Client(url, verbose=False, download_files=False)
        downloading = Client(url, verbose=False, download_files=workdir)
        endpoints = {
            "/embed": lambda client: client.predict(handle_file(image_path), "digits", 8, api_name="/embed"),
            "/predict": lambda client: client.predict(handle_file(image_path), 0, 0.75, api_name="/predict"),
        }
        candidates = {
            "encoders": encoders,
            "embed (in process)": embed_in_process,
            "predict (in process)": predict_in_process,
            **{name: functools.partial(call, answering) for name, call in endpoints.items()},
            **{f"{name} + downloads": functools.partial(call, downloading) for name, call in endpoints.items()},
        }
        per_model = {f"{model.method.name} encoder": (lambda m=model: encode_images(m, [image])) for model in models}
        with torch.no_grad():
            timings = time_ms({**per_model, **candidates}, warmup=3, reps=args.reps)
    finally:
        server.terminate()
        server.wait()

    baseline = timings["encoders"].median
    described = {
        "encoders": f"baseline: processor + encoder forward of the {len(models)} models",
        "embed (in process)": "embeddings tab, model side only (PCA overlay, 8 neighbours, map)",
        "predict (in process)": f"predictions tab, model side only ({', '.join(m.method.name for m in models)} views)",
        # per model: the PCA overlay, 8 neighbours and the map
        "/embed": f"`/embed` through gradio_client: upload, run, answer ({10 * len(models)} PNG files written)",
        "/predict": "`/predict` through gradio_client: upload, run, answer (a PNG file per picture)",
        "/embed + downloads": "`/embed`, and the client downloads every file in turn",
        "/predict + downloads": "`/predict`, and the client downloads every file in turn",
    }
    rows = [[f"{name}: processor + forward", str(timings[name]), "—"] for name in per_model]
    rows += [[text, str(timings[name]), f"{timings[name].median / baseline:.1f}×"] for name, text in described.items()]
    table = markdown_table(["call", "ms: median (IQR)", "vs baseline"], rows)
    names = ", ".join(f"{m.method.name} ({m.config.image_size} px, patch {m.config.patch_size})" for m in models)
    gallery = store.gallery("digits")
    body = (
        f"Models: {names}, from `hf-jepa pretrain`; input a {IMAGE_SIDE}×{IMAGE_SIDE} RGB image (resized by each "
        f"model's processor); gallery: {len(gallery)} digits (embedded once per model during warm-up). {args.reps} "
        f"timed calls of each, taking turns in blocks of 5 (first of a block untimed) after 3 warm-up calls. "
        f"Endpoint rows run all {len(models)} models (one column each). The server's CPU time while answering counts "
        f"among the other processes' share in the line above.\n\n{table}"
    )
    report(args, "Demo endpoint latency", [torch.device("cpu")], body)


if __name__ == "__main__":
    main()

"""The Gradio demo: the same image through several models side by side (one column each), as embeddings (PCA of
patch features, nearest neighbours, a 2-D map of a gallery) and as what each method predicts; for a LeWorldModel
among the models, a world-model tab that plans in its environment; and `hf-jepa demo`.

Gradio is imported only when an app is built, so the rest of the package (and the `hf-jepa` command) does not need
it. Every error a user can cause is a ValueError in the model-side modules, shown in the page as a `gr.Error`.
"""

import functools
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image
from transformers import HfArgumentParser

from ..data.images import DIGITS, digits_dataset
from .embeddings import embedding_view
from .loading import DemoStore, prepare_image
from .predictions import PredictionRequest, predict
from .world import (
    DEFAULT_ENV,
    PROBE_EPISODES,
    WorldRequest,
    WorldStore,
    episode_preview,
    plan_episode,
    world_unavailable,
)

DISPLAY_SIZE = 224
EXAMPLES_DIR = os.path.join(tempfile.gettempdir(), "hf_jepa_demo_examples")
INTRO = """# hf_jepa: what self-supervised ViTs learned
Upload an image (any size: each model's processor resizes it) or pick an example. **Embeddings**: the image under
the first three principal components of its patch features (similar colours = similar features), its nearest
neighbours in a gallery with their labels, and where it falls (black ring) on a 2-D PCA map of the gallery's
embeddings coloured by label. **Predictions**: what each model's pretraining objective predicts for this image (for
V-JEPA, for an uploaded clip or the image panning across the frame). **World model** (shown for a LeWorldModel): plan
towards a goal in its environment."""
WORLD_INTRO = f"""Pick a start (an episode seed: the environment reset with it) and a goal (where the environment's
expert policy gets in the given number of steps from there), then **Plan**: the world model plans with CEM in latent
space (receding horizon, as `hf-jepa plan`) and the plan runs in the environment. The chart compares the agent's real
position with the position a linear probe reads from the embeddings of the real frames and from the latents the model
predicts for the executed actions (its `rollout` from the start embedding, one point per model step). The CEM
defaults are far below the paper's 300 samples x 30 iterations x 30 elites so that a click answers in seconds on a
CPU; the first click per model also fits the probe (without `--probe_dataset`, on {PROBE_EPISODES} short episodes
recorded then)."""


@functools.cache
def _first_digits() -> dict[int, Image.Image]:
    """The first image of each digit in the embedded digits' eval split (32 px)."""
    firsts = {}
    for row in digits_dataset(image_size=32)["eval"]:
        firsts.setdefault(row["label"], row["image"])
    return firsts


def bundled_examples(folder: str = EXAMPLES_DIR) -> list[str]:
    """Example images that ship inside installed packages, written once as PNG files into `folder`: scikit-image's
    sample photos (when installed; `camera` is grayscale), scikit-learn's two sample photos, and three of the
    embedded digits."""
    os.makedirs(folder, exist_ok=True)
    images: dict[str, Callable[[], Image.Image]] = {}
    try:
        from skimage import data as skimage_data

        for name in ("astronaut", "coffee", "chelsea", "camera"):
            images[name] = functools.partial(lambda n: Image.fromarray(getattr(skimage_data, n)()), name)
    except ImportError:  # scikit-image comes with the `demo` extra; the other examples need nothing more
        pass
    from sklearn.datasets import load_sample_images

    samples = load_sample_images()
    for path, pixels in zip(samples.filenames, samples.images):
        images[os.path.splitext(os.path.basename(path))[0]] = functools.partial(Image.fromarray, pixels)
    for digit in (0, 3, 7):
        images[f"digit_{digit}"] = functools.partial(lambda d: _first_digits()[d], digit)
    paths = []
    for name, make in images.items():  # made only when missing: the digits take seconds to build
        path = os.path.join(folder, f"{name}.png")
        if not os.path.exists(path):
            make().save(f"{path}.{os.getpid()}.png")
            os.replace(f"{path}.{os.getpid()}.png", path)  # atomic: another process may be writing the same file
        paths.append(path)
    return paths


def parse_model_list(text: str) -> list[str]:
    """Model folders or Hub ids separated by newlines or commas."""
    return [name.strip() for name in re.split(r"[\n,]", text or "") if name.strip()]


def build_app(
    models: Sequence[str],
    galleries: Sequence[str] = (DIGITS,),
    *,
    allow_loading: bool = False,
    max_models: int = 4,
    max_gallery_images: int | None = None,
    display_size: int = DISPLAY_SIZE,
    examples: Sequence[str] | None = None,
    world_env: str = DEFAULT_ENV,
    probe_dataset: str | None = None,
    world_store: WorldStore | None = None,
):
    """The demo as a `gr.Blocks` (not launched): one column per model in each tab, and a world-model tab when a
    LeWorldModel is among the models.

    Args:
        models: model folders or Hub ids, loaded now (a ValueError names any that is not an hf_jepa model).
        galleries: datasets to search for neighbours (`"digits"`, image folders, saved or Hub datasets); the first
            is the default.
        allow_loading: let visitors type other model folders / Hub ids and gallery folders (up to `max_models`
            columns). It reads the server's disk: keep it off for a public Space.
        max_gallery_images: embed only the first images of each gallery (faster start, e.g. in tests).
        display_size: side of the pictures.
        examples: example image files (default: `bundled_examples()`).
        world_env: the world-model tab's environment (a stable-worldmodel id; with `allow_loading` others can be
            typed).
        probe_dataset: a folder recorded by `hf-jepa collect` in that environment to fit the position probe on
            (default: episodes recorded on the fly).
        world_store: where the world-model tab keeps its probes (default: `WorldStore(probe_dataset)`; tests pass a
            smaller one).

    Endpoints (`api_name`): `/embed` (image, gallery, neighbours), `/predict` (image, seed, mask_ratio, and an
    optional video for V-JEPA), each returning one group of outputs per column; `/world_episode` (environment, seed,
    goal offset: the start and goal frames) and `/plan` (world model, those, budget and the CEM settings); with
    `allow_loading`, `/load_models` (newline-separated names).
    """
    import gradio as gr

    models = [name.strip() for name in models]
    if not models:
        raise ValueError("Give at least one model (a folder saved by `hf-jepa pretrain` or a Hub id).")
    store = DemoStore(max_gallery_images)
    for name in models:  # loaded, and the default gallery embedded, now rather than on a visitor's first click
        store.gallery_embedding(store.model(name), galleries[0])
    columns = max(len(models), max_models) if allow_loading else len(models)
    world_store = world_store or WorldStore(probe_dataset)

    def world_models(names: Sequence[str]) -> list[str]:
        return [name for name in names if store.model(name).method.name == "lewm"]

    initial_world_models = world_models(models)
    # Importing stable-worldmodel takes seconds: only when the tab can be shown.
    unavailable = world_unavailable() if initial_world_models or allow_loading else None

    def shown_in_ui(handler):
        @functools.wraps(handler)
        def wrapper(*args):
            try:
                return handler(*args)
            except ValueError as error:
                raise gr.Error(str(error)) from error

        return wrapper

    def title(name: str) -> str:
        model = store.model(name)
        note = "" if model.has_pretraining_head else " (encoder only)"
        return f"### {model.method.name}{note}\n`{name}`"

    @shown_in_ui
    def embed(image, gallery_source, num_neighbours, names):
        image = prepare_image(image)
        gallery = store.gallery(gallery_source or galleries[0])
        outputs = []
        for slot in range(columns):
            if slot >= len(names):
                outputs += [None, None, None, None]
                continue
            model = store.model(names[slot])
            embedding = store.gallery_embedding(model, gallery.source)
            view = embedding_view(model, image, gallery, embedding, int(num_neighbours), display_size)
            outputs += [view.pca, view.neighbours, view.map, view.numbers]
        return outputs

    @shown_in_ui
    def run_predictions(image, seed, mask_ratio, names, video=None, labels=None):
        seed = 0 if seed is None else int(seed)  # an emptied number box
        ratio = None if mask_ratio is None else float(mask_ratio)
        request = PredictionRequest(
            prepare_image(image),
            seed,
            mask_ratio=ratio,
            display_size=display_size,
            video=video or None,
            labels=labels or None,
        )
        outputs = []
        for slot in range(columns):
            if slot >= len(names):
                outputs += [None, "", None]
                continue
            prediction = predict(store.model(names[slot]), request)
            outputs += [prediction.images, prediction.note, prediction.numbers]
        return outputs

    @shown_in_ui
    def load_models(text):
        names = parse_model_list(text)
        if not names:
            raise ValueError("List at least one model folder or Hub id, one per line.")
        if len(names) > columns:
            raise ValueError(f"At most {columns} models side by side; got {len(names)}.")
        titles = [title(name) for name in names] + [""] * (columns - len(names))  # loads each model
        shown = [gr.Column(visible=slot < len(names)) for slot in range(columns)]
        lewm = world_models(names)
        world = [gr.Tab(visible=bool(lewm)), gr.Dropdown(choices=lewm, value=lewm[0] if lewm else None)]
        return [names, *shown, *shown, *titles, *titles, *world]

    def world_request(env_id, seed, goal_offset, *settings) -> WorldRequest:
        """The tab's fields as a request: `settings` are budget, horizon, receding horizon, samples, iterations and
        elites (their defaults when absent)."""
        numbers = [int(value) for value in (goal_offset, *settings)]
        return WorldRequest(env_id, 0 if seed is None else int(seed), *numbers, display_size=display_size)

    @shown_in_ui
    def show_episode(env_id, seed, goal_offset):
        start, goal, _ = episode_preview(world_request(env_id, seed, goal_offset))
        return start, goal

    @shown_in_ui
    def plan_world(name, env_id, seed, goal_offset, *settings):
        if not name:
            raise ValueError(
                "No world model: load a LeWorldModel (a folder saved by `hf-jepa pretrain --method lewm`)."
            )
        result = plan_episode(store.model(name), world_request(env_id, seed, goal_offset, *settings), world_store)
        return result.start, result.goal, result.gif, result.chart, result.summary, result.numbers

    def model_columns(make_panels: Callable[[int], list]) -> tuple[list, list, list]:
        """One column per model slot: its title and the outputs `make_panels(slot)` creates; columns past the
        loaded models start hidden. -> (columns, titles, outputs)."""
        shown, titles, outputs = [], [], []
        with gr.Row():
            for slot in range(columns):
                with gr.Column(visible=slot < len(models)) as column:
                    shown.append(column)
                    titles.append(gr.Markdown(title(models[slot]) if slot < len(models) else ""))
                    outputs += make_panels(slot)
        return shown, titles, outputs

    def numbers_panel() -> "gr.JSON":
        with gr.Accordion("Numbers", open=False):
            return gr.JSON(show_label=False)

    def embedding_panels(slot: int) -> list:
        return [
            gr.Image(label="PCA of patch features", format="png", elem_id=f"pca-{slot}"),
            gr.Gallery(label="Nearest neighbours", columns=4, height=260, format="png", elem_id=f"neighbours-{slot}"),
            gr.Image(label="Gallery map (2-D PCA)", format="png", elem_id=f"map-{slot}"),
            numbers_panel(),
        ]

    def prediction_panels(slot: int) -> list:
        return [
            gr.Gallery(label="Prediction", columns=2, format="png", elem_id=f"prediction-{slot}"),
            gr.Markdown(),
            numbers_panel(),
        ]

    with gr.Blocks(title="hf_jepa demo") as app:
        gr.Markdown(INTRO)
        loaded = gr.State(list(models))
        with gr.Row():
            image = gr.Image(type="pil", image_mode=None, label="Image", elem_id="input-image", height=300)
            gr.Examples([[path] for path in (bundled_examples() if examples is None else examples)], inputs=image)
        with gr.Accordion("Models", open=False, visible=allow_loading):
            model_text = gr.Textbox("\n".join(models), lines=2, label="Model folders or Hub ids, one per line")
            load_button = gr.Button("Load models")
        with gr.Tab("Embeddings"):
            with gr.Row():
                gallery_choice = gr.Dropdown(
                    list(galleries),
                    value=galleries[0],
                    allow_custom_value=allow_loading,
                    label="Gallery (neighbours and map)",
                )
                num_neighbours = gr.Slider(1, 16, value=8, step=1, label="Neighbours")
                embed_button = gr.Button("Embed", variant="primary", elem_id="embed-button")
            embedding_columns, embedding_titles, embedding_outputs = model_columns(embedding_panels)
        with gr.Tab("Predictions"):
            with gr.Row():
                seed = gr.Number(0, precision=0, label="Mask seed (MAE, I-JEPA, V-JEPA)")
                mask_ratio = gr.Slider(0.05, 0.95, value=0.75, step=0.05, label="MAE mask ratio")
                video = gr.Video(
                    label="Clip for V-JEPA (optional: without one, the image pans across the frame)",
                    sources=["upload"],
                    height=160,
                )
                labels = gr.Textbox(
                    "", label="Labels for SigLIP / CLIP, comma-separated (empty: the digit names)", lines=1
                )
                predict_button = gr.Button("Predict", variant="primary", elem_id="predict-button")
            prediction_columns, prediction_titles, prediction_outputs = model_columns(prediction_panels)
        with gr.Tab("World model", visible=bool(initial_world_models)) as world_tab:
            gr.Markdown(WORLD_INTRO)
            gr.Markdown(unavailable or "", visible=unavailable is not None, elem_id="world-unavailable")
            with gr.Column(visible=unavailable is None):
                with gr.Row():
                    world_model = gr.Dropdown(
                        initial_world_models,
                        value=initial_world_models[0] if initial_world_models else None,
                        label="World model (LeWorldModel)",
                    )
                    world_env_choice = gr.Dropdown(
                        [world_env], value=world_env, allow_custom_value=allow_loading, label="Environment"
                    )
                    episode_seed = gr.Number(0, precision=0, minimum=0, label="Start: episode seed")
                    goal_offset = gr.Slider(1, 100, value=25, step=1, label="Goal: expert steps from the start")
                    budget = gr.Slider(5, 200, value=50, step=5, label="Budget (environment steps)")
                with gr.Accordion("Planner (CEM): small by default for a CPU; the paper: 300 / 30 / 30", open=False):
                    with gr.Row():
                        planner_settings = [
                            gr.Slider(1, 10, value=5, step=1, label="Horizon (action blocks)"),
                            gr.Slider(1, 10, value=5, step=1, label="Blocks executed before replanning"),
                            gr.Slider(10, 300, value=100, step=10, label="Samples"),
                            gr.Slider(1, 30, value=10, step=1, label="Iterations"),
                            gr.Slider(1, 30, value=10, step=1, label="Elites"),
                        ]
                with gr.Row():
                    show_button = gr.Button("Show start and goal", elem_id="world-episode-button")
                    plan_button = gr.Button("Plan", variant="primary", elem_id="plan-button")
                with gr.Row():
                    start_image = gr.Image(label="Start", format="png", elem_id="world-start")
                    goal_image = gr.Image(label="Goal", format="png", elem_id="world-goal")
                    episode_gif = gr.Image(label="Executed plan | goal", type="filepath", elem_id="world-episode")
                world_chart = gr.Image(label="Agent position over time", format="png", elem_id="world-chart")
                world_summary = gr.Markdown()
                world_numbers = numbers_panel()

        embed_button.click(embed, [image, gallery_choice, num_neighbours, loaded], embedding_outputs, api_name="embed")
        predict_button.click(
            run_predictions, [image, seed, mask_ratio, loaded, video, labels], prediction_outputs, api_name="predict"
        )
        world_episode = [world_env_choice, episode_seed, goal_offset]
        show_button.click(show_episode, world_episode, [start_image, goal_image], api_name="world_episode")
        plan_button.click(
            plan_world,
            [world_model, *world_episode, budget, *planner_settings],
            [start_image, goal_image, episode_gif, world_chart, world_summary, world_numbers],
            api_name="plan",
        )
        if allow_loading:
            load_button.click(
                load_models,
                model_text,
                [loaded, *embedding_columns, *prediction_columns, *embedding_titles, *prediction_titles]
                + [world_tab, world_model],
                api_name="load_models",
            )
    return app


@dataclass
class DemoArguments:
    model: list[str] = field(
        metadata={
            "help": "A folder saved by `hf-jepa pretrain` or a Hub model id; repeat (`--model A --model B`) or list "
            "several to show them side by side.",
            "action": "extend",
        }
    )
    gallery: list[str] = field(
        default_factory=lambda: [DIGITS],
        metadata={"help": "Datasets to search for neighbours: 'digits' (embedded), image folders, saved datasets."},
    )
    host: str = field(default="127.0.0.1", metadata={"help": "Address to serve on (0.0.0.0: reachable from others)."})
    port: int | None = field(default=None, metadata={"help": "Port (none: the first free one from 7860)."})
    share: bool = field(default=False, metadata={"help": "Also serve through a temporary public gradio.live link."})
    allow_loading: bool = field(
        default=True,
        metadata={
            "help": "Let the page load other model folders, Hub ids and gallery folders (it reads this machine's "
            "disk: turn it off when serving to others with --host 0.0.0.0 or --share)."
        },
    )
    max_gallery_images: int | None = field(default=None, metadata={"help": "Embed only the first N gallery images."})
    world_env: str = field(
        default=DEFAULT_ENV,
        metadata={
            "help": "Environment of the world-model tab, shown when a LeWorldModel is among --model (needs "
            'stable-worldmodel: pip install -e ".[world]").'
        },
    )
    probe_dataset: str | None = field(
        default=None,
        metadata={
            "help": "A folder recorded by `hf-jepa collect` in that environment, to fit the world-model tab's "
            f"position probe on (default: {PROBE_EPISODES} short episodes recorded on the first Plan)."
        },
    )


def demo(argv: list[str]):
    """`hf-jepa demo`: build the app for the given models and serve it until interrupted."""
    parser = HfArgumentParser(
        DemoArguments,
        prog="hf-jepa demo",
        description="Serve the Gradio demo locally: embeddings (PCA of patch features, nearest neighbours, a 2-D map "
        "of a gallery) and predictions (MAE reconstructions, I-JEPA blocks and prediction similarity, DINO "
        "attention maps, V-JEPA masks and prediction error over time) of one or more saved models side by side; for a "
        "LeWorldModel, a world-model tab that plans towards a goal in its environment. Needs `pip install "
        "'hf-jepa[demo]'` (and `pip install -e '.[world]'` for the world-model tab).",
    )
    for action in parser._actions:  # HfArgumentParser gives the negative flag the positive one's help
        if "--no_allow_loading" in action.option_strings:
            action.help = (
                "Show only the models given with --model: the page reads nothing else from this machine's disk "
                "(use it with --host 0.0.0.0 or --share)."
            )
    (args,) = parser.parse_args_into_dataclasses(argv)
    try:
        import gradio  # noqa: F401
    except ImportError as error:
        raise ValueError("The demo needs Gradio: pip install 'hf-jepa[demo]'.") from error
    app = build_app(
        args.model,
        args.gallery,
        allow_loading=args.allow_loading,
        max_gallery_images=args.max_gallery_images,
        world_env=args.world_env,
        probe_dataset=args.probe_dataset,
    )
    app.launch(server_name=args.host, server_port=args.port, share=args.share)
    return app

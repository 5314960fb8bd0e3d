"""The demo page in a real browser: headless Chromium uploads an image, clicks Embed and must render the results.
The screenshot is kept in `test-artifacts/` (and the test's tmp_path)."""

import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.test_demo import GALLERY_SIZE, save_tiny_models, serving

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
NUM_NEIGHBOURS = 8  # the page's default

pytestmark = pytest.mark.skipif(
    CHROMEDRIVER is None or CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium chromium-driver; .ci/run does it)",
)

RENDERED_IMAGES = """
return Array.from(document.querySelectorAll(arguments[0] + ' img'))
    .filter(img => img.complete && img.naturalWidth > 0)
    .map(img => [img.naturalWidth, img.naturalHeight]);
"""


def test_uploading_an_image_and_embedding_renders_every_column(tmp_path):
    pytest.importorskip("gradio")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from hf_jepa.demo.app import build_app, bundled_examples

    models = save_tiny_models(tmp_path)
    app = build_app([models["ijepa"], models["dino"]], max_gallery_images=GALLERY_SIZE)
    image = tmp_path / "upload.png"
    photo = next(path for path in bundled_examples() if path.endswith("chelsea.png"))
    Image.open(photo).resize((224, 224)).save(image)

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000"):
        options.add_argument(argument)
    with serving(app) as url:
        driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
        try:
            wait = WebDriverWait(driver, 120)
            driver.get(url)
            upload = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#input-image input[type=file]"))
            upload.send_keys(str(image))
            wait.until(lambda d: d.execute_script(RENDERED_IMAGES, "#input-image"))  # the upload is previewed
            driver.find_element(By.ID, "embed-button").click()
            pca = [wait.until(lambda d, s=slot: d.execute_script(RENDERED_IMAGES, f"#pca-{s}")) for slot in (0, 1)]
            neighbours = wait.until(
                lambda d: (
                    (found := d.execute_script(RENDERED_IMAGES, "#neighbours-1")) and len(found) >= NUM_NEIGHBOURS
                )
            )
            driver.save_screenshot(str(tmp_path / "demo_embeddings.png"))
        finally:
            driver.quit()
    assert all(sizes == [[224, 224]] for sizes in pca)  # one PCA picture per model, at the display size
    assert neighbours
    screenshot = tmp_path / "demo_embeddings.png"
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / screenshot.name)

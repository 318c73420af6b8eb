"""The web page (python -m tools.app) in a real browser: headless Chromium driven by Playwright.

Skipped, with the reason, when Chromium, Playwright or Gradio is missing (.ci/install-browser
installs them) unless REQUIRE_BROWSER=1, where that is a failure. Uses the real pair in
../shared/real_pairs beside the repository (skipped when absent).
"""
import base64
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAIR = os.path.join(os.path.dirname(ROOT), "shared", "real_pairs")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _missing():
    reasons = []
    if CHROMIUM is None:
        reasons.append("chromium is not installed (run .ci/install-browser)")
    for module in ("playwright", "gradio"):
        try:
            __import__(module)
        except ImportError:
            reasons.append(f"{module} is not installed (pip install -r requirements-app.txt playwright)")
    return reasons


if _missing():
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError("REQUIRE_BROWSER=1 but " + "; ".join(_missing()))
    pytest.skip("; ".join(_missing()), allow_module_level=True)
if not os.path.isfile(os.path.join(PAIR, "test_fg.jpg")):
    pytest.skip(f"the real pair is not in {PAIR}", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(checkpoint, tmp_path_factory):
    """The page served by ``python -m tools.app`` on a free port; its URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "tools.app", "--model-path", checkpoint, "--port", str(port)],
                                  cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                assert server.poll() is None, log.read_text()[-3000:]
                time.sleep(0.5)
        else:
            pytest.fail("the app did not start in 120 s:\n" + log.read_text()[-3000:])
        yield url
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory):
    """A .y4m for Chromium's fake camera: the plate for 2 s, then the photo (640x360, 10 fps, looped)."""
    import av

    from dataset.io import read_image
    path = tmp_path_factory.mktemp("cam") / "cam.y4m"
    bg, fg = (cv2.resize(read_image(os.path.join(PAIR, n)), (640, 360), interpolation=cv2.INTER_AREA)
              for n in ("test_bg.jpg", "test_fg.jpg"))
    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for i in range(40):
            frame = av.VideoFrame.from_ndarray(((bg if i < 20 else fg) * 255 + 0.5).astype(np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
    return str(path)


@pytest.fixture(scope="module")
def browser(camera_file):
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera_file}"])
        yield chromium
        chromium.close()


def fetch_image(page, selector):
    """The image an <img> inside ``selector`` shows, decoded with OpenCV (channels as stored)."""
    src = page.locator(f"{selector} img").first.get_attribute("src")
    data = base64.b64decode(src.split(",", 1)[1]) if src.startswith("data:") else page.request.get(src).body()
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_photo_and_plate_give_alpha_cutout_and_composite(app, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1250})
    page.goto(app)
    page.locator("#src input[type=file]").set_input_files(os.path.join(PAIR, "test_fg.jpg"))
    page.locator("#bgr input[type=file]").set_input_files(os.path.join(PAIR, "test_bg.jpg"))
    expect(page.locator("#bgr img")).to_be_visible(timeout=20000)
    page.locator("#run").click()
    expect(page.locator("#com img")).to_be_visible(timeout=90000)
    pha, rgba, com = (fetch_image(page, s) for s in ("#pha", "#rgba", "#com"))
    assert pha.shape[:2] == rgba.shape[:2] == com.shape[:2] == (1080, 1920)
    assert rgba.ndim == 3 and rgba.shape[2] == 4
    alpha = pha if pha.ndim == 2 else pha[..., 0]
    np.testing.assert_allclose(rgba[..., 3].astype(float), alpha.astype(float), atol=1)  # the cut-out carries the matte
    expect(page.locator("#files a")).to_have_count(3)
    # APP_SCREENSHOT=docs/img/app.png refreshes the README's picture; otherwise the test leaves the tree alone.
    shot = os.environ.get("APP_SCREENSHOT") or str(tmp_path / "app.png")
    page.screenshot(path=shot, full_page=True)
    assert os.path.getsize(shot) > 10_000
    page.close()


def test_plate_of_another_size_is_one_message(app, browser, tmp_path):
    from dataset.io import read_image, write_image
    small = tmp_path / "small_plate.png"
    write_image(small, cv2.resize(read_image(os.path.join(PAIR, "test_bg.jpg")), (640, 360)))
    page = browser.new_page(viewport={"width": 1400, "height": 1250})
    page.goto(app)
    page.locator("#src input[type=file]").set_input_files(os.path.join(PAIR, "test_fg.jpg"))
    page.locator("#bgr input[type=file]").set_input_files(str(small))
    expect(page.locator("#bgr img")).to_be_visible(timeout=20000)
    page.locator("#run").click()
    expect(page.get_by_text("size mismatch", exact=False).first).to_be_visible(timeout=60000)
    page.close()


def test_webcam_streams_to_the_model(app, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1250}, permissions=["camera"])
    page = context.new_page()
    page.goto(app)
    page.get_by_role("tab", name="Live webcam").click()
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#cam button[aria-label*='start' i], #cam button:has-text('Record')").first.click(timeout=20000)
    expect(page.locator("#live img")).to_be_visible(timeout=60000)  # frames come back: shown as is before a plate
    raw = fetch_image(page, "#live")
    assert raw.shape[:2] == (360, 640)
    page.locator("#capture").click()
    expect(page.locator("#live img")).not_to_have_attribute("src", page.locator("#live img").get_attribute("src"),
                                                            timeout=30000)
    time.sleep(3)  # a few frames through the model
    matted = fetch_image(page, "#live")
    assert matted.shape[:2] == (360, 640)
    assert np.abs(matted.astype(float) - raw.astype(float)).mean() > 5  # a composite now, not the camera frame
    context.close()

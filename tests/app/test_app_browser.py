"""The web app in a real headless Chromium: every tab runs its default sample and shows a
picture; a non-image upload shows a readable error; the app keeps serving.

Uses the system's Chromium and its chromedriver (Debian: ``apt-get install chromium
chromium-driver``; ``.ci/run`` installs them when missing) through Selenium; nothing downloads a
browser at run time. Screenshots go to ``work_dirs/app_screenshots/<tab>.png`` (and
``<tab>_error.png``); the time from pressing run to the result is printed per tab and written
to ``work_dirs/app_screenshots/timings.txt``.
"""
import os
import re
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip('gradio', reason='the app needs gradio (pip install -e ".[app]")')
pytest.importorskip('selenium', reason='the browser test needs selenium (pip install -e ".[test]")')

from vision_sparse.app import TABS, common, launch, tab_module  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / 'work_dirs' / 'app_screenshots'


def _find(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = os.environ.get('VISION_SPARSE_CHROMIUM') or _find('chromium', 'chromium-browser',
                                                              'google-chrome')
CHROMEDRIVER = os.environ.get('VISION_SPARSE_CHROMEDRIVER') or _find('chromedriver')

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason='no Chromium / chromedriver installed (Debian: apt-get install chromium chromium-driver)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    os.environ['VISION_SPARSE_APP_DIR'] = str(tmp_path_factory.mktemp('app_outputs'))
    app = launch(host='127.0.0.1', port=_free_port(), block=False, quiet=True)
    yield app
    app.close()


@pytest.fixture(scope='module')
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                '--window-size=1500,2200'):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _wait(predicate, timeout, what, poll=0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f'timed out after {timeout:.0f} s waiting for {what}')


def _is_error(status: str) -> bool:
    """The status reports a failure (``common.status_error``: a line starting with ``Error:``)."""
    return re.search(r'(^|\n)\s*Error:', status) is not None


def _text(driver, elem_id):
    from selenium.webdriver.common.by import By
    found = driver.find_elements(By.ID, elem_id)
    return found[0].text if found else ''


def _shown_picture(driver, elem_id):
    """(src, width, height) of the loaded picture inside ``#elem_id``, or None."""
    from selenium.webdriver.common.by import By
    for img in driver.find_elements(By.CSS_SELECTOR, f'#{elem_id} img'):
        size = driver.execute_script(
            'const i = arguments[0]; return i.complete ? [i.naturalWidth, i.naturalHeight] : null;',
            img)
        src = img.get_attribute('src') or ''
        if size and size[0] > 0 and '/file=' in src:
            return src, int(size[0]), int(size[1])
    return None


def _open_tab(driver, server, name):
    from selenium.webdriver.common.by import By
    driver.get(server.local_url)
    button = _wait(lambda: driver.find_elements(By.ID, f'tab-{name}-button'), 60,
                   f'the {name!r} tab button')[0]
    button.click()
    _wait(lambda: driver.find_elements(By.ID, f'{name}-run') and
          driver.find_element(By.ID, f'{name}-run').is_displayed(), 30, f'#{name}-run visible')


@pytest.mark.parametrize('name', TABS)
def test_tab_runs_sample_and_reports_bad_upload(server, browser, name, tmp_path, capsys):
    from selenium.webdriver.common.by import By
    module = tab_module(name)
    timeout = float(getattr(module, 'BROWSER_CHECK', {}).get('timeout_s', 120))
    SHOTS.mkdir(parents=True, exist_ok=True)
    _open_tab(browser, server, name)
    common.last_picture_sizes.pop(name, None)

    # run on the default sample
    start = time.monotonic()
    browser.find_element(By.ID, f'{name}-run').click()

    def finished():
        status = _text(browser, f'{name}-status')
        if _is_error(status):
            raise AssertionError(f'tab {name!r} reported an error on its default sample: {status}')
        return _shown_picture(browser, f'{name}-output')

    src, width, height = _wait(finished, timeout, f'#{name}-output picture')
    elapsed = time.monotonic() - start
    time.sleep(0.5)  # let the status markdown settle
    browser.save_screenshot(str(SHOTS / f'{name}.png'))
    status = _text(browser, f'{name}-status')
    assert not _is_error(status) and 'Traceback' not in browser.page_source
    assert status.strip(), f'tab {name!r}: empty status after a run'
    # the picture is the one the handler returned, not an empty placeholder
    assert (height, width) in common.last_picture_sizes.get(name, []), \
        (name, (height, width), common.last_picture_sizes.get(name))
    data = np.frombuffer(urllib.request.urlopen(src, timeout=30).read(), np.uint8)
    picture = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[:2] == (height, width)
    assert min(height, width) >= 64 and float(picture.std()) > 5.0, 'blank output picture'
    with capsys.disabled():
        print(f'\napp tab {name}: run -> result {elapsed:.1f} s, picture {width} x {height}')
    with open(SHOTS / 'timings.txt', 'a') as f:
        f.write(f'{time.strftime("%Y-%m-%d %H:%M:%S")} {name} run_to_result_s={elapsed:.2f} '
                f'picture={width}x{height}\n')

    # a non-image upload: readable error in the status, no stack trace
    bad = tmp_path / 'not_an_image.png'
    bad.write_text('this is a text file, not a picture\n')
    upload = browser.find_element(By.CSS_SELECTOR, f'#{name}-upload input[type=file]')
    upload.send_keys(str(bad))

    def error_shown():
        return _is_error(_text(browser, f'{name}-status'))

    try:
        _wait(error_shown, 10, 'an error after the upload')
    except AssertionError:  # the tab checks uploads when run is pressed
        browser.find_element(By.ID, f'{name}-run').click()
        _wait(error_shown, 60, f'an error in #{name}-status after running on a non-image')
    message = _text(browser, f'{name}-status')
    # readable: names the uploaded file and says what is wrong (image tabs: "not an image
    # file"; the LiDAR upload: "looks like a text file ...")
    assert bad.name in message and len(message) > len(bad.name) + 30, message
    assert 'Traceback' not in browser.page_source
    browser.save_screenshot(str(SHOTS / f'{name}_error.png'))

    # the app keeps serving
    assert urllib.request.urlopen(server.local_url, timeout=30).status == 200

"""The after-action report opened in a real headless browser: are the charts drawn?

Debian's chromium (`apt-get install chromium`, /usr/bin/chromium) renders the page from a
file with networking switched off, once to dump the DOM it built and once to take a
screenshot; the screenshot is decoded with the standard library and searched for the
series colours. Under CI (CI=true) a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import pytest

from replay.chart_palette import COUNTERFACTUAL_COLOUR, PLAYED_COLOUR, region_colours
from replay.exercise_report import exercise_review_html
from tests.api_helpers import production_logging  # noqa: F401 - autouse fixture
from tests.exercise_review_sample import NORTH_MASKS_POINTS, sample_review

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TIMEOUT = 60
WIDTH, HEIGHT = 1200, 5000  # the whole sample report, charts included, fits in one screenshot


def chromium_path() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        if IN_CI:
            pytest.fail("chromium is not installed: CI must run the headless-browser report test (.ci/run installs it)")
        pytest.skip("the headless-browser report test needs chromium: apt-get install -y chromium")
    return path


def run_chromium(chromium: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        *arguments,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {TIMEOUT} s: {' '.join(command)}")
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done


@dataclass
class Rendered:
    dom: str
    png: Path


@pytest.fixture(scope="module")
def rendered(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    folder = tmp_path_factory.mktemp("browser")
    page = folder / "review.html"
    page.write_text(exercise_review_html(sample_review()), encoding="utf-8")
    png = folder / "review.png"
    dom = run_chromium(chromium, folder / "profile-dom", "--dump-dom", page.as_uri()).stdout
    run_chromium(chromium, folder / "profile-shot", f"--screenshot={png}", page.as_uri())
    assert png.is_file(), "chromium wrote no screenshot"
    yield Rendered(dom=dom, png=png)


# --- a PNG reader: 8-bit RGB or RGBA, not interlaced (what chromium writes) -------------------


@dataclass
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]

    def where(self, colour: str) -> list[tuple[int, int]]:
        """(x, y) of every pixel of exactly this #rrggbb colour (opaque)."""
        wanted = bytes.fromhex(colour.lstrip("#"))
        found = []
        for y, row in enumerate(self.rows):
            if self.channels == 3:
                start = row.find(wanted)
                while start != -1:
                    if start % 3 == 0:
                        found.append((start // 3, y))
                    start = row.find(wanted, start + 1)
            else:
                for x in range(self.width):
                    if row[4 * x : 4 * x + 3] == wanted and row[4 * x + 3] == 255:
                        found.append((x, y))
        return found


def read_png(path: Path) -> Image:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, compressed, header = 8, [], None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed.append(body)
        elif kind == b"IEND":
            break
    assert header is not None
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(compressed))
    stride = width * channels
    # "Up" rows (most of a screenshot) add bytewise mod 256 without a loop: SWAR on big integers
    low, high = int.from_bytes(b"\x7f" * stride, "big"), int.from_bytes(b"\x80" * stride, "big")
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        offset = y * (stride + 1)
        method, line = raw[offset], raw[offset + 1 : offset + 1 + stride]
        if method == 0:
            row = bytes(line)
        elif method == 1:  # Sub: a running sum per channel
            out = bytearray(stride)
            for c in range(channels):
                out[c::channels] = bytes(map((255).__and__, accumulate(line[c::channels])))
            row = bytes(out)
        elif method == 2:  # Up
            a, b = int.from_bytes(line, "big"), int.from_bytes(previous, "big")
            row = (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(stride, "big")
        else:  # Average (3) and Paeth (4), byte by byte
            out = bytearray(line)
            for i in range(stride):
                left = out[i - channels] if i >= channels else 0
                up = previous[i]
                if method == 3:
                    out[i] = (out[i] + ((left + up) >> 1)) & 255
                else:
                    corner = previous[i - channels] if i >= channels else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    out[i] = (out[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
            row = bytes(out)
        rows.append(row)
        previous = row
    return Image(width, height, channels, rows)


def test_png_reader_round_trip(tmp_path: Path) -> None:
    """Every filter type decodes: a tiny image written with rows filtered None, Sub, Up, Average, Paeth."""
    pixels = [bytes((x * 40 + y * 7) % 256 for x in range(12)) for y in range(5)]  # 4 RGB pixels a row
    raw = bytearray()
    previous = bytes(12)
    for method, row in enumerate(pixels):
        raw.append(method)
        for i, value in enumerate(row):
            left = row[i - 3] if i >= 3 else 0
            up, corner = previous[i], previous[i - 3] if i >= 3 else 0
            p = left + up - corner
            paeth = (
                left
                if abs(p - left) <= abs(p - up) and abs(p - left) <= abs(p - corner)
                else up
                if abs(p - up) <= abs(p - corner)
                else corner
            )
            predictor = [0, left, up, (left + up) >> 1, paeth][method]
            raw.append((value - predictor) % 256)
        previous = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path = tmp_path / "t.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 5, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )
    image = read_png(path)
    assert (image.width, image.height, image.channels) == (4, 5, 3)
    assert image.rows == pixels


# --- the report in the browser ----------------------------------------------------------------


def test_the_browser_builds_the_charts(rendered: Rendered) -> None:
    dom = rendered.dom
    assert dom.count("<svg") == 4  # masks, gloves, latencies, stockouts
    assert dom.count("<polyline") == 9  # masks 3 + 2, gloves 2 + 2
    assert dom.count('stroke-dasharray="6 4"') >= 4  # the counterfactual's curves (and the legend keys)
    assert f'points="{NORTH_MASKS_POINTS}"' in dom
    assert dom.count("<figcaption>") == 4
    assert ">no data<" not in dom
    assert "<script" not in dom


def test_the_screenshot_shows_curves_and_bars_in_their_colours(rendered: Rendered) -> None:
    image = read_png(rendered.png)
    assert (image.width, image.height) == (WIDTH, HEIGHT)
    north, south = (region_colours(["North", "South"])[r] for r in ("North", "South"))

    def box(colour: str, least: int) -> tuple[int, int, int, int]:
        spots = image.where(colour)
        assert len(spots) >= least, f"{colour}: {len(spots)} pixels, expected at least {least}"
        xs, ys = [x for x, _ in spots], [y for _, y in spots]
        return min(xs), min(ys), max(xs), max(ys)

    # curves: each region's lines run across both side-by-side charts and rise and fall
    curves = []
    for colour in (north, south):
        left, top, right, bottom = box(colour, 1000)  # markers and legend keys alone are ~250
        assert right - left > 800, f"{colour} spans {left}…{right}: not across two charts"
        assert 60 < bottom - top < 450, f"{colour} spans {top}…{bottom}: not a row of line charts"
        curves.append((top, bottom))
    # bars: the latency chart, then (further down) the stockout chart, in both colours
    played = box(PLAYED_COLOUR, 3000)
    counterfactual = box(COUNTERFACTUAL_COLOUR, 1500)
    for left, top, right, bottom in (played, counterfactual):
        assert right - left > 250, "bars are drawn to their length"
        assert top > max(b for _, b in curves), "the bar charts come after the days-of-supply charts"
        assert bottom - top > 300, "bars in both the latency and the stockout chart"
    # nothing above the first chart uses a series colour: what was found is the charts
    first_chart = min(t for t, _ in curves)
    assert first_chart > 1200  # overview, objectives, timeline and the measures table come first


def test_the_report_of_a_played_exercise_draws_its_charts(chromium: str, api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same, for the report the service serves of a real exercise (tests/exercise_world.py)."""
    from tests.exercise_world import CODE, build_live, create, play

    create(api, build_live(api))
    play(api)
    page = tmp_path / "review.html"
    served = api.get(f"/v1/exercises/{CODE}/review.html")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/html")
    page.write_text(served.text, encoding="utf-8")
    dom = run_chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert dom.count("<svg") == 3  # FFP2's days of supply, latencies, stockouts
    assert dom.count("<polyline") == 4  # north and south, as played and had equal days of supply decided
    assert "B-SOUTH" in dom and ">no data<" not in dom and "<script" not in dom

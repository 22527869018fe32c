"""A real headless Chromium, from Debian's packages, to look at our HTML as people see it.

Installed by the test set-up when it is missing and the tests run as root (like Dovecot);
otherwise the tests that need it are skipped with the reason, except under CI=true, where
they must run. Each run gets a fresh profile and talks to no network service.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "chromium"
CANDIDATES = ("chromium", "chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")
# Headless windows are at least 500 px wide, so a phone is an iframe of its width: the email
# lays itself out in it exactly as in a phone's 390 px viewport.
WINDOW_MARGIN = 40


def find_chromium() -> str | None:
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def install_chromium() -> str:
    """apt-get install chromium; what apt printed, for the skip or failure reason."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    output = []
    for command in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "-o", "DPkg::Lock::Timeout=600", PACKAGE]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=1200, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{' '.join(command)}: {error}"
        output.append(done.stdout + done.stderr)
        if done.returncode != 0:
            break
    return "\n".join(output)[-2000:]


def version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60,
                          check=False)
    return done.stdout.strip()


@dataclass(frozen=True)
class Measured:
    """One email laid out at one width."""

    name: str
    width: int
    client_width: int
    scroll_width: int
    overflowing: list[str]  # elements whose right edge passes the viewport
    text: str  # what a reader sees (innerText)


_MEASURE = """
<script>
function measure(frame) {
  const doc = frame.contentDocument;
  const width = doc.documentElement.clientWidth;
  const over = [];
  for (const el of doc.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 0.5) {
      over.push(el.tagName.toLowerCase() + ' ' + Math.round(box.right) + 'px: '
                + (el.textContent || '').trim().slice(0, 80));
    }
  }
  return {name: frame.dataset.name, width: Number(frame.dataset.width), client_width: width,
          scroll_width: doc.documentElement.scrollWidth, overflowing: over.slice(0, 8),
          text: doc.body.innerText};
}
window.addEventListener('load', () => {
  const results = Array.from(document.querySelectorAll('iframe')).map(measure);
  document.getElementById('results').textContent = JSON.stringify(results);
});
</script>
"""


class Chromium:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)

    def _run(self, page: Path, *extra: str, width: int, height: int) -> str:
        with tempfile.TemporaryDirectory(dir=self.workdir, prefix="profile-") as profile:
            done = subprocess.run(
                [self.binary, *FLAGS, f"--user-data-dir={profile}",
                 f"--window-size={width},{height}", *extra, page.as_uri()],
                capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def measure(self, pages: dict[str, str], widths: tuple[int, ...]) -> list[Measured]:
        """Lay out every HTML page at every width (each in a viewport of that width) and
        measure it, in one browser run."""
        frames = "\n".join(
            f'<iframe data-name="{html.escape(name)}" data-width="{width}" '
            f'style="width:{width}px;height:1200px;border:0;display:block" '
            f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
            for name, page in pages.items() for width in widths)
        document = (f"<!DOCTYPE html><html><head><meta charset='utf-8'>{_MEASURE}</head>"
                    f"<body style='margin:0'>{frames}<pre id='results'></pre></body></html>")
        path = self.workdir / "measure.html"
        path.write_text(document, encoding="utf-8")
        dom = self._run(path, "--dump-dom", "--virtual-time-budget=30000",
                        width=max(widths) + WINDOW_MARGIN, height=900)
        found = re.search(r"<pre id=\"results\">(.*?)</pre>", dom, flags=re.DOTALL)
        if found is None or not found.group(1).strip():
            raise RuntimeError("chromium returned no measurements")
        return [Measured(**item) for item in json.loads(html.unescape(found.group(1)))]

    def screenshot(self, page_html: str, target: Path, *, width: int, height: int = 2000) -> None:
        """A picture of the email in a viewport `width` px wide, for a person to look at."""
        document = (f"<!DOCTYPE html><html><body style='margin:0;background:#888'>"
                    f"<iframe style='width:{width}px;height:{height}px;border:0;display:block;"
                    f"background:#fff' srcdoc=\"{html.escape(page_html, quote=True)}\">"
                    "</iframe></body></html>")
        path = self.workdir / f"{target.stem}.html"
        path.write_text(document, encoding="utf-8")
        self._run(path, f"--screenshot={target}", "--virtual-time-budget=5000",
                  width=max(width, 500), height=height)

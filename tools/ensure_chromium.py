"""Install Debian's Chromium for the HTML report's browser test, in CI only.

``tox -e tests`` runs this before pytest. With ``CI=true``, as root, on a machine with apt-get
and no Chromium yet, it runs ``apt-get install chromium`` (about 25 s); anywhere else it does
nothing, and the browser test skips with the reason. A failed install is reported and never
fails the run: the browser test then skips, the rest of the suite runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def main() -> int:
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return 0
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return 0
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print("ensure_chromium: no apt-get or not root; the browser test will skip")
        return 0
    print("ensure_chromium: installing Debian's chromium for the HTML report test", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # stale or missing package lists: refresh once and retry
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        print("ensure_chromium: apt-get failed; the browser test will skip:", *tail, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())

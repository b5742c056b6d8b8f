"""Headless Chromium, as this machine runs it: no sandbox (root), no background connections."""

import os

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# How long JupyterLab may take to appear once the spawn starts.
LAB_SECONDS = 180


def launch_chromium(playwright, *extra_args: str):
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            *extra_args,
        ],
    )

"""MkDocs hook: the lessons, notebooks/*.ipynb, become pages under notebooks/ on the site.

The notebooks stay where Binder and the tests find them; the site renders the committed files as
they are (mkdocs-jupyter with ``execute: false``), nothing is run at build time. A notebook the
nav does not list fails a strict build (``validation.nav.omitted_files``).
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]


@event_priority(100)  # before mkdocs-jupyter turns the .ipynb files into pages
def on_files(files: Files, config: MkDocsConfig) -> Files:
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        # a file of the repository's notebooks/ folder, at the same path on the site
        files.append(
            File(
                f"notebooks/{notebook.name}",
                src_dir=str(ROOT),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files

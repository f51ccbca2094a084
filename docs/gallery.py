"""The examples gallery's settings that mkdocs.yml cannot hold, and the fix-ups of its pages.

mkdocs-gallery runs every script of ``examples/`` when the site is built and writes its page
to ``docs/examples/``. This file serves twice:

* as the plugin's ``conf_script``, whose ``conf`` holds Python callables: before every example
  matplotlib is reset to its defaults (no example inherits another's style), with the figures
  the gallery collects saved at 150 dpi (matplotlib's default of 100 looks blurred on today's
  screens), and torch, when installed, computes on one thread (see `reset_modules`);
* as an MkDocs hook (``hooks`` in mkdocs.yml): the plugin writes its links for a site served
  with directory URLs (``examples/name/``), while this site uses plain file links so that it
  works opened from disk. `on_page_markdown` turns the index's thumbnail links into file links
  (``name`` -> ``name.html``) and the figures' ``srcset`` into paths from the page's own folder.
"""

import importlib.util
import re
from pathlib import Path

GALLERY_DPI = 150

# The generated gallery's folder inside the docs (mkdocs.yml: gallery_dirs).
GALLERY = "examples/"

# A thumbnail's link on the gallery index: an example's page name, with no suffix.
_THUMBNAIL_LINK = re.compile(r'href="([\w-]+)"')

# A figure's srcset, written one folder up for directory URLs.
_SRCSET = re.compile(r'srcset="\.\./')


def reset_modules(gallery_conf: dict, file: Path | None) -> None:
    """Reset matplotlib's style before an example runs, and keep torch on one thread.

    matplotlib goes back to its defaults, with the gallery's figure resolution. torch's
    threads wait for each other at every operation: on two cores, while another process holds
    one of them (a developer's machine, a shared CI runner), a small convolutional network
    trained on two threads ran 20 times slower than on one (65 s against 3.2 s per epoch of
    the autoencoder example), and on an idle machine one thread costs little at these sizes.

    Parameters
    ----------
    gallery_conf : dict
        The gallery's settings (unused; part of the plugin's interface).
    file : Path or None
        The example about to run (unused; part of the plugin's interface).
    """
    # matplotlib and torch are loaded only when the gallery runs, never when this file is
    # imported (torch only where the `conv` extra is installed).
    import matplotlib.pyplot as plt

    plt.rcdefaults()
    plt.rcParams["savefig.dpi"] = GALLERY_DPI
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)


conf = {"reset_modules": (reset_modules,)}


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Make the gallery's links work on a site of plain file links (an MkDocs hook).

    Parameters
    ----------
    markdown : str
        The page's Markdown, as the gallery wrote it.
    page, config, files
        MkDocs' page, configuration and files (the hook's interface).

    Returns
    -------
    str
        The Markdown with file links; unchanged outside the gallery or with directory URLs.
    """
    if config["use_directory_urls"] or not page.file.src_uri.startswith(GALLERY):
        return markdown
    if page.file.src_uri == GALLERY + "index.md":
        return _THUMBNAIL_LINK.sub(r'href="\1.html"', markdown)
    return _SRCSET.sub('srcset="', markdown)

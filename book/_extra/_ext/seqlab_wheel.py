"""The helper package `seqlab` as a wheel served by the course site, and the notebooks that install it.

A notebook downloaded from the site (to Colab, a JupyterHub, a laptop) has no `seqlab`; its setup
cell installs the wheel whose address the site wrote into it. Three jobs, one per function:

- :func:`build_wheel`: a pure-Python wheel of ``seqlab/``, byte-for-byte reproducible (fixed
  timestamps, sorted entries), so its checksum changes only when the package does;
- :func:`stamp_notebook`: writes the wheel's address and checksum into a release notebook's setup
  cell (``SEQLAB_WHEEL = ""``) and refreshes nbgrader's checksum of that locked cell, so that
  ``nbgrader validate`` still accepts the notebook;
- :func:`publish`: both, over a built site (the Sphinx extension calls it when a build finishes);
- :func:`unpublished_notice`: the line ``make book`` prints while the site has no address
  (``python book/_extra/_ext/seqlab_wheel.py`` prints it).

No setuptools or network: a wheel is a zip file with three metadata files (PEP 427).
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import sys
import tomllib
import zipfile
from pathlib import Path

PACKAGE = "seqlab"
#: The line of every setup cell that the site fills in (see solutions/*/*.ipynb, cell "setup").
WHEEL_LINE = re.compile(r'^SEQLAB_WHEEL = ""(?P<rest>.*)$', re.M)
#: Where the wheel lives in the site, relative to its root.
STATIC = "_static"
CHECKSUMS = "SHA256SUMS"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip file can hold: no build time in the wheel


def version(root: Path) -> str:
    """``seqlab.__version__`` read from the source (the one place the version is written)."""
    text = (root / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def wheel_name(root: Path) -> str:
    return f"{PACKAGE}-{version(root)}-py3-none-any.whl"


def _metadata(root: Path) -> str:
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = ["Metadata-Version: 2.1", f"Name: {PACKAGE}", f"Version: {version(root)}",
             f"Summary: {project.get('description', '')}"]
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def _package_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / PACKAGE).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(root: Path, dest: Path) -> Path:
    """Write ``dest/seqlab-<version>-py3-none-any.whl`` from ``root/seqlab``; return its path."""
    dist_info = f"{PACKAGE}-{version(root)}.dist-info"
    entries = [(p.relative_to(root).as_posix(), p.read_bytes()) for p in _package_files(root)]
    entries.append((f"{dist_info}/METADATA", _metadata(root).encode()))
    entries.append((f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: seqlab_wheel\n"
                                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in entries:
        writer.writerow([name, _digest(data), len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    entries.append((f"{dist_info}/RECORD", record.getvalue().encode()))

    dest.mkdir(parents=True, exist_ok=True)
    path = dest / wheel_name(root)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stamp_notebook(path: Path, wheel_url: str) -> bool:
    """Fill in ``SEQLAB_WHEEL`` in the notebook's setup cell; True if the notebook had that line.

    The setup cell is locked, so nbgrader keeps a checksum of its text; it is recomputed here,
    exactly as ``nbgrader generate_assignment`` computed it.
    """
    import nbformat
    from nbgrader.utils import compute_checksum

    nb = nbformat.read(path, as_version=4)
    stamped = False
    for cell in nb.cells:
        if cell.cell_type != "code" or not WHEEL_LINE.search(cell.source):
            continue
        cell.source = WHEEL_LINE.sub(lambda m: f'SEQLAB_WHEEL = "{wheel_url}"{m["rest"]}', cell.source, count=1)
        meta = cell.metadata.get("nbgrader")
        if meta and "checksum" in meta:
            meta["checksum"] = compute_checksum(cell)
        stamped = True
    if stamped:
        nbformat.write(nb, path)
    return stamped


def publish(root: Path, site: Path, base_url: str) -> tuple[Path, list[Path]]:
    """Put the wheel and ``SHA256SUMS`` under ``site/_static`` and stamp the served notebooks.

    ``base_url`` is the course's public address (``html.baseurl`` in ``_config.yml``); when it is
    empty the notebooks are left as released and say, when seqlab is missing, where to get it.
    Returns the wheel and the notebooks stamped.
    """
    wheel = build_wheel(root, site / STATIC)
    digest = sha256(wheel)
    (site / STATIC / CHECKSUMS).write_text(f"{digest}  {wheel.name}\n", encoding="utf-8")
    stamped = []
    if base_url:
        url = f"{base_url.rstrip('/')}/{STATIC}/{wheel.name}#sha256={digest}"
        for nb in sorted((site / "_sources").rglob("*.ipynb")):
            if stamp_notebook(nb, url):
                stamped.append(nb)
    return wheel, stamped


def unpublished_notice(root: Path) -> str | None:
    """One line while ``html.baseurl`` in ``root/_config.yml`` is empty, else None.

    Without an address, the notebooks the site serves cannot install seqlab by themselves (their
    setup cell then names the wheel, ``_static/<wheel>``, for the student to install).
    """
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    if str((config.get("html") or {}).get("baseurl") or "").strip():
        return None
    return ("note: the site in _build/html is not publishable yet: set html.baseurl in _config.yml to the address "
            f"it will be served from, then run make book again (until then its notebooks ask students to install "
            f"_static/{wheel_name(root)} by hand)")


if __name__ == "__main__":
    notice = unpublished_notice(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
    if notice:
        print(notice)

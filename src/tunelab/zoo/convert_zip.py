"""A zip that holds a Hugging Face folder (e.g. the joined parts of mpnet's packages) -> that folder.

The folder may sit at the zip's top level or one level down (``all-mpnet-base-v2/config.json``);
the shallowest ``config.json`` marks it. Members that would land outside the extraction folder
(``../x``, absolute paths) are refused: a zip from the internet must not write elsewhere.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

from tunelab.errors import DataError


def convert(artifact: Path, out_dir: Path, **options) -> None:
    from tqdm.auto import tqdm

    try:
        zf = zipfile.ZipFile(artifact)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{artifact}: not a zip file ({exc})") from None
    with zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        for n in names:
            p = PurePosixPath(n)
            if p.is_absolute() or ".." in p.parts:
                raise DataError(f"{artifact}: member {n!r} points outside the folder; refusing to extract")
        configs = sorted((n for n in names if PurePosixPath(n).name == "config.json"), key=lambda n: n.count("/"))
        if not configs:
            raise DataError(f"{artifact}: holds no config.json, so no Hugging Face model folder")
        prefix = str(PurePosixPath(configs[0]).parent)
        prefix = "" if prefix == "." else prefix + "/"
        for n in tqdm([n for n in names if n.startswith(prefix)], desc=f"unzip {artifact.name}", unit="file",
                      disable=None):
            dest = out_dir / n[len(prefix):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(n) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise DataError(f"{artifact}: member {n} is damaged ({exc})") from None

"""Add bytecode to a Chalice deployment package.

Lambda's /var/task is read-only and Chalice zips sources only (stamped 1980-01-01) - its own,
ours and the wheels' (PyJWT, pydantic...) - so without this every cold start compiles every
module it imports from source. The .pyc files are written in
"unchecked-hash" mode (PEP 552): valid whatever the files' timestamps, which the zip does not keep.
They must be compiled by the same Python minor version as the Lambda runtime (python3.11).
"""

import importlib.util
import py_compile
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

RUNTIME = (3, 11)


def main(package: Path) -> None:
    if sys.version_info[:2] != RUNTIME:
        sys.exit(f"compile with Python {RUNTIME[0]}.{RUNTIME[1]} (the Lambda runtime), not {sys.version.split()[0]}")
    tag = sys.implementation.cache_tag
    added = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "package.zip"
        with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if "__pycache__/" in info.filename:
                    continue  # stale bytecode from a work tree; regenerated below
                data = src.read(info)
                dst.writestr(info, data)
                name = info.filename
                if not name.endswith(".py"):
                    continue
                source = Path(tmp) / name
                source.parent.mkdir(parents=True, exist_ok=True)
                source.write_bytes(data)
                target = Path(importlib.util.cache_from_source(str(source)))
                try:
                    py_compile.compile(
                        str(source),
                        cfile=str(target),
                        dfile=name,
                        doraise=True,
                        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                    )
                except py_compile.PyCompileError:
                    continue  # e.g. a wheel's file for another Python; it is never imported here
                arc = str(Path(name).parent / "__pycache__" / f"{Path(name).stem}.{tag}.pyc")
                dst.writestr(zipfile.ZipInfo(arc, date_time=info.date_time), target.read_bytes())
                added += 1
        shutil.move(str(out), package)
    print(f"precompiled {added} modules into {package}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

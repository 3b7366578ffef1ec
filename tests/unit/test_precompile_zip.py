"""The deployment package carries bytecode that Python uses as is (no compile at cold start)."""

import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_package_bytecode_is_used(tmp_path: Path) -> None:
    package = tmp_path / "deployment.zip"
    with zipfile.ZipFile(package, "w") as z:
        z.writestr(zipfile.ZipInfo("app.py", (1980, 1, 1, 0, 0, 0)), "VALUE = 'compiled'\n")
        z.writestr(zipfile.ZipInfo("chalicelib/__init__.py", (1980, 1, 1, 0, 0, 0)), "")
        z.writestr("chalicelib/__pycache__/__init__.cpython-311.pyc", b"stale")
        z.writestr("vendorlib/broken.py", "print 'python 2'\n")
    subprocess.run([sys.executable, str(ROOT / "infra" / "precompile_zip.py"), str(package)], check=True)
    with zipfile.ZipFile(package) as z:
        names = z.namelist()
        z.extractall(tmp_path / "task")
    tag = sys.implementation.cache_tag
    assert f"__pycache__/app.{tag}.pyc" in names
    assert names.count(f"chalicelib/__pycache__/__init__.{tag}.pyc") == 1
    assert "chalicelib/__pycache__/__init__.cpython-311.pyc" not in names or tag == "cpython-311"
    assert "vendorlib/broken.py" in names and not any("broken" in n and n.endswith(".pyc") for n in names)
    # The source changes but the bytecode (unchecked-hash) is what runs: proof it is used.
    (tmp_path / "task" / "app.py").write_text("VALUE = 'from source'\n")
    saved = sys.modules.pop("app", None)  # the real app module, if a test imported it
    sys.path.insert(0, str(tmp_path / "task"))
    try:
        module = importlib.import_module("app")
        assert module.VALUE == "compiled"
    finally:
        sys.path.remove(str(tmp_path / "task"))
        sys.modules.pop("app", None)
        if saved is not None:
            sys.modules["app"] = saved

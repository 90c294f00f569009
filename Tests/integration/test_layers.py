"""scripts/check-imports.py: the layer rule (a target imports only what Package.swift lists)."""
import json
import subprocess
import sys

from harness import REPO

SCRIPT = REPO / "scripts" / "check-imports.py"


def test_every_import_of_the_package_is_declared():
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 undeclared" in out.stderr


def test_an_undeclared_import_fails_naming_file_module_and_target(tmp_path):
    (tmp_path / "Sources" / "Low").mkdir(parents=True)
    (tmp_path / "Sources" / "High").mkdir(parents=True)
    (tmp_path / "Sources" / "Low" / "A.swift").write_text(
        "import Foundation\n// import High  (a comment is not an import)\n@testable import High\n")
    (tmp_path / "Sources" / "High" / "B.swift").write_text("import Low\nimport struct Logging.Logger\n")
    package = {"targets": [
        {"name": "Low", "type": "regular", "dependencies": []},
        {"name": "High", "type": "regular", "dependencies": [{"byName": ["Low", None]},
                                                               {"product": ["Logging", "swift-log", None, None]}]},
    ]}
    (tmp_path / "package.json").write_text(json.dumps(package))
    out = subprocess.run([sys.executable, str(SCRIPT), "--root", str(tmp_path), "--package-json",
                          str(tmp_path / "package.json")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stdout.strip().splitlines() == [
        "Sources/Low/A.swift: imports High, which target Low does not list in Package.swift"]

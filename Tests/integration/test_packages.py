"""One place names the Debian packages: scripts/packages/*.txt, read by scripts/install-deps.sh and
by the Dockerfile's stages. There is no Docker engine here, so the Dockerfile cannot be built; these
checks are its guard: each stage's `apt-get install` lines are run with apt-get stubbed (they print
what they would install), and the result must be the list install-deps installs for that level.
The Dockerfile must also build the binary as `make image` does and describe the same image."""
import json
import os
import re
import subprocess

import pytest
import yaml

from harness import REPO

LISTS = REPO / "scripts" / "packages"
# install-deps' build level also installs curl, for `make run`'s printed hints: not an image's need.
HOST_ONLY = {"curl"}


def read_list(name):
    """A list file as install-deps.sh reads it: `#` comments and blank lines dropped."""
    out = []
    for line in (LISTS / f"{name}.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def install_deps_packages(level):
    out = subprocess.run([str(REPO / "scripts" / "install-deps.sh"), "packages", level], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def dockerfile_stages(text):
    """[(stage name, base image, [instructions])], continuation lines joined."""
    stages = []
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op.upper() == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            stages.append((m.group(2) or f"stage{len(stages)}", m.group(1), []))
        else:
            stages[-1][2].append((op.upper(), rest.strip()))
    return stages


def installed_by(run_command, tmp_path):
    """The packages a RUN line hands to `apt-get install`, found by running it in the repository
    (where its relative list paths exist) with apt-get and rm stubbed. Only lines made of apt-get,
    sed, xargs and rm run here."""
    commands = [c.strip().split()[0] for c in re.split(r"&&|\|\|?|;", run_command) if c.strip()]
    assert set(commands) <= {"apt-get", "sed", "xargs", "rm"}, f"a RUN line that installs does more: {run_command}"
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    record = tmp_path / "installed"
    record.write_text("")
    (stubs / "apt-get").write_text(
        "#!/bin/sh\n[ \"$1\" = install ] || exit 0\nshift\n"
        f"for a in \"$@\"; do case \"$a\" in -*) ;; *) echo \"$a\" >> {record} ;; esac; done\n")
    (stubs / "rm").write_text("#!/bin/sh\nexit 0\n")
    for s in stubs.iterdir():
        s.chmod(0o755)
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", run_command], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, PATH=f"{stubs}:{os.environ['PATH']}"), timeout=60)
    assert out.returncode == 0, f"{run_command}\n{out.stderr}"
    return record.read_text().split()


def drift(text, tmp_path):
    """What the Dockerfile installs that install-deps does not, or the other way round."""
    problems = []
    want = {"build": set(install_deps_packages("build")) - HOST_ONLY, "rootfs": set(read_list("rootfs"))}
    assert want["rootfs"] <= set(install_deps_packages("image")), "install-deps' image level installs rootfs.txt"
    got = {}
    for name, base, instructions in dockerfile_stages(text):
        for op, arg in instructions:
            if op == "RUN" and "apt-get install" in arg:
                got.setdefault(name, set()).update(installed_by(arg, tmp_path))
    for stage in sorted(set(want) | set(got)):
        missing, extra = want.get(stage, set()) - got.get(stage, set()), got.get(stage, set()) - want.get(stage, set())
        if missing:
            problems.append(f"stage {stage}: install-deps installs {sorted(missing)}, the Dockerfile does not")
        if extra:
            problems.append(f"stage {stage}: the Dockerfile installs {sorted(extra)}, install-deps does not")
    return problems


def test_dockerfile_installs_what_install_deps_installs(tmp_path):
    assert drift((REPO / "Dockerfile").read_text(), tmp_path) == []


def test_the_drift_check_fails_on_the_dockerfile_as_it_was(tmp_path):
    """The Dockerfile before this check: package names written out in it, libisal-dev forgotten."""
    old = ("FROM swift:6.3-bookworm AS build\n"
           "RUN apt-get update && apt-get install -y --no-install-recommends libnghttp2-dev libcurl4-openssl-dev libssl-dev pkg-config \\\n"
           "    && rm -rf /var/lib/apt/lists/*\n"
           "RUN swift build -c release --product argo-artifact-plugin --static-swift-stdlib\n"
           "FROM debian:bookworm-slim\n"
           "RUN apt-get update && apt-get install -y --no-install-recommends libcurl4 libnghttp2-14 libssl3 ca-certificates\n")
    problems = drift(old, tmp_path)
    assert any("stage build" in p and "libisal-dev" in p for p in problems), problems
    assert any("stage rootfs" in p for p in problems), problems
    assert any("stage1" in p and "libcurl4" in p for p in problems), problems


def test_package_swift_providers_are_in_the_build_list():
    providers = re.findall(r"\.apt\(\[([^\]]*)\]\)", (REPO / "Package.swift").read_text())
    named = {p.strip().strip('"') for group in providers for p in group.split(",") if p.strip()}
    assert named and named <= set(read_list("build")), f"Package.swift names {sorted(named - set(read_list('build')))}"


def makefile_static_build():
    """The static build's `swift build` line, run in the fixed source tree IMAGE_SRC (the
    Dockerfile's is /src)."""
    recipe = re.search(r"^build-release-static:.*\n(?:\t.*\n)*?\tcd \$\(IMAGE_SRC\) && (swift build .*)$",
                       (REPO / "Makefile").read_text(), re.M)
    assert recipe, "Makefile: build-release-static has no `cd $(IMAGE_SRC) && swift build` line"
    return recipe.group(1)


def test_dockerfile_builds_and_describes_the_image_make_image_builds():
    stages = dockerfile_stages((REPO / "Dockerfile").read_text())
    build = [arg for op, arg in stages[0][2] if op == "RUN" and arg.startswith("swift build")]
    assert len(build) == 1
    scratch = re.search(r"^STATIC_SCRATCH := (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    make = makefile_static_build().replace("$(STATIC_SCRATCH)", scratch).replace("$(IMAGE_SRC)", "/src")
    assert build[0] == make, f"Dockerfile: {build[0]}\nMakefile:   {make}"
    # The rootfs stage cuts the root with the script make image uses; the last stage is that root alone.
    assert any(op == "RUN" and "scripts/image/rootfs.sh" in arg for op, arg in stages[1][2])
    name, base, final = stages[-1]
    assert base == "scratch" and not [op for op, _ in final if op == "RUN"]
    # The same config as scripts/image/build.sh writes.
    plugin = yaml.safe_load((REPO / "plugin.yaml").read_text())
    instr = {}
    for op, arg in final:
        instr.setdefault(op, []).append(arg)
    labels = dict(re.findall(r"(org\.opencontainers\.image\.\w+)=(\S+)", " ".join(instr["LABEL"])))
    assert labels["org.opencontainers.image.version"] == plugin["version"]
    assert labels["org.opencontainers.image.source"] == plugin["source"]
    assert "org.opencontainers.image.revision" in labels
    assert instr["USER"] == ["65532:65532"]
    assert json.loads(instr["ENTRYPOINT"][0]) == ["/usr/local/bin/argo-artifact-plugin"]
    script = (REPO / "scripts" / "image" / "build.sh").read_text()
    assert "--config.user=65532:65532" in script and "--config.entrypoint=/usr/local/bin/argo-artifact-plugin" in script
    assert f"--config.env={instr['ENV'][0]}" in script


def test_every_image_reference_is_the_one_make_image_builds():
    image = yaml.safe_load((REPO / "plugin.yaml").read_text())["image"]
    found = []
    for path in sorted((REPO / "manifests").rglob("*.yaml")):
        for ref in re.findall(r"\S*argo-artifact-plugin:[\w.-]+", path.read_text()):
            found.append((path.name, ref.rstrip(":")))
    assert len(found) >= 4, found
    wrong = [(p, r) for p, r in found if r != image]
    assert not wrong, f"manifests name another image than plugin.yaml's {image}: {wrong}"
    assert re.search(rf"-t {re.escape(image)} ", (REPO / "Dockerfile").read_text())


@pytest.mark.parametrize("level", ["build", "image"])
def test_install_deps_reads_the_lists(level):
    """install-deps' levels are the lists (plus HOST_ONLY), so a package added to a list is installed."""
    lists = {"build": ["build"], "image": ["rootfs", "image"]}[level]
    expected = [p for name in lists for p in read_list(name)]
    got = install_deps_packages(level)
    assert [p for p in got if p not in HOST_ONLY] == expected


def test_install_deps_names_the_listed_packages_as_the_lists_do():
    """install-deps.sh spells out what its lists hold (one line, for a reader or a search for a
    package name); it must be exactly the lists, in order."""
    line = re.search(r"^#   build\.txt, rootfs\.txt, image\.txt: (.*)$", (REPO / "scripts" / "install-deps.sh").read_text(), re.M)
    assert line, "scripts/install-deps.sh lost its line naming the listed packages"
    assert line.group(1).split() == read_list("build") + read_list("rootfs") + read_list("image")

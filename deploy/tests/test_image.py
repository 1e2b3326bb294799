"""The Dockerfile, the manifests and the gateway binary agree on the
binary's name, its port, its configuration path and its user."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import PurePosixPath

from dockerfile_parse import DockerfileParser

from manifests import (
    DOCKERFILE,
    IMAGE_CONFIG,
    ROOT,
    cargo_bin_name,
    config_mount_path,
    gateway_binary,
    image,
    listen_port,
)


def test_image_runs_the_binary_cargo_builds():
    img = image()
    name = cargo_bin_name()
    assert re.search(rf"cargo build --release --locked -p blobgate --bin {name}\b", img.build_run), img.build_run
    built = f"target/release/{name}"
    assert built in img.build_run
    entry = img.entrypoint[0]
    assert PurePosixPath(entry).name == name
    # The entrypoint is what the runtime stage copies from the build stage.
    assert [dst for src, dst, stage in img.copies if stage == "build" and PurePosixPath(src).name == name] == [entry]
    assert img.cmd == ["serve"]
    out = subprocess.run([str(gateway_binary()), *img.cmd, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "--config" in out.stdout, out.stderr


def test_image_build_and_runtime_share_a_debian_release():
    """The binary links against the build stage's glibc: the runtime's must
    be the same Debian release (or newer)."""
    froms = [i["value"] for i in DockerfileParser(path=str(DOCKERFILE)).structure if i["instruction"] == "FROM"]
    releases = {"bookworm": 12, "trixie": 13, "debian12": 12, "debian13": 13}

    def release(image):
        found = [n for name, n in releases.items() if re.search(rf"\b{name}\b", image)]
        assert len(found) == 1, f"{image}: name its Debian release"
        return found[0]

    build, runtime = (release(f.split()[0]) for f in froms)
    assert build <= runtime, froms


def test_image_toolchain_builds_the_workspace():
    """The build stage's Rust is at least the workspace's rust-version."""
    want = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    have = image().args["RUST_VERSION"]

    def version(v):
        return tuple(int(x) for x in v.split("."))

    assert version(have) >= version(want), (have, want)


def test_image_and_manifests_agree(all_rendered):
    img = image()
    image_config = tomllib.loads(IMAGE_CONFIG.read_text())
    # The configuration path: the image's variable, where it puts its default
    # and where every Deployment mounts the project's.
    config_path = img.env["BLOBGATE_CONFIG"]
    assert ("deploy/image/config.toml", config_path, None) in img.copies
    # The port.
    port = listen_port(image_config)
    assert img.expose == [str(port)]
    assert image_config["listen"].startswith("0.0.0.0:"), "reachable from outside the container"
    # The user: numeric (so runAsNonRoot can be verified) and not root, and
    # the one the pods run as.
    uid, gid = (int(x) for x in img.user.split(":"))
    assert uid != 0 and gid != 0
    # The data directory of the default configuration is the image's own,
    # owned by that user.
    assert [dst for _, dst, _ in img.copies if dst == image_config["data_dir"]] == [image_config["data_dir"]]
    assert f"-o {uid} -g {gid}" in img.build_run
    for r in all_rendered.values():
        assert str(config_mount_path(r)) == config_path
        assert listen_port(r.config_toml()) == port
        sc = r.pod["spec"]["securityContext"]
        assert (sc["runAsUser"], sc["runAsGroup"]) == (uid, gid)
        assert r.container.get("command") is None, "the image's entrypoint is the gateway"

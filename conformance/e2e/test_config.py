"""The configuration file: `blobgate serve --config FILE` takes any option
as a TOML key; flags and BLOBGATE_* variables override it; an unknown key or
a bad value stops the start with a message naming the file and the key."""

import os
import subprocess

from conftest import blobgate_binary


def run_serve(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AZURE_STORAGE_"))}
    env.update(env_extra or {})
    return subprocess.run([str(blobgate_binary()), "serve", *args], env=env, capture_output=True, text=True,
                          timeout=30)  # fmt: skip


def test_bad_config_files_stop_the_start(tmp_path):
    for text, want in [
        ("cache_sise_mib = 1\n", "unknown key `cache_sise_mib`"),
        ('idle_timeout = "soon"\n', "`idle_timeout`: invalid value 'soon'"),
        ("listen = \n", "config file"),
    ]:
        path = tmp_path / "blobgate.toml"
        path.write_text(text)
        p = run_serve("--config", str(path), "--listen", "127.0.0.1:0")
        assert p.returncode == 2, p.stderr
        assert want in p.stderr and str(path) in p.stderr, p.stderr
        assert "panicked" not in p.stderr
    p = run_serve("--config", str(tmp_path / "missing.toml"))
    assert p.returncode == 2 and "missing.toml" in p.stderr


def test_file_values_apply_and_flags_win(tmp_path):
    """The file's listen address, region and data dir are used; a flag given
    on the command line replaces the file's region."""
    import socket
    import time

    import boto3
    from botocore.config import Config

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "blobgate.toml"
    path.write_text(f'listen = "127.0.0.1:{port}"\nregion = "eu-north-1"\ndata_dir = "{tmp_path / "data"}"\n'
                    'backend = "fs"\n')  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AZURE_STORAGE_"))}
    env.update(BLOBGATE_ACCESS_KEY="cfg", BLOBGATE_SECRET_KEY="cfg-secret")
    for flags, region in [([], "eu-north-1"), (["--region", "ap-south-1"], "ap-south-1")]:
        proc = subprocess.Popen([str(blobgate_binary()), "serve", "--config", str(path), *flags], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="cfg",
                              aws_secret_access_key="cfg-secret", region_name=region,
                              config=Config(s3={"addressing_style": "path"}))  # fmt: skip
            s3.create_bucket(Bucket="cfg-bucket", CreateBucketConfiguration={"LocationConstraint": region})
            assert (tmp_path / "data" / "cfg-bucket").is_dir()
            s3.delete_bucket(Bucket="cfg-bucket")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

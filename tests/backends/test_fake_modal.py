"""The fake Modal SDK itself: its sandboxes are local processes that behave like Modal's containers."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import httpx
import psutil
import pytest

from tests import fake_modal


async def _app(fake: ModuleType) -> fake_modal.App:
    return await fake.App.lookup.aio("seer-test", create_if_missing=True)


async def test_a_sandbox_runs_its_command_and_its_output_is_read_back(fake_sdk: ModuleType) -> None:
    app = await _app(fake_sdk)
    code = "import sys\nprint('hello from', sys.executable)\nprint('oops', file=sys.stderr)\nsys.exit(3)"
    sandbox = await fake_sdk.Sandbox.create.aio("python", "-c", code, app=app, image=fake_sdk.Image.debian_slim())
    assert sandbox.object_id.startswith("sb-fake-")
    await sandbox.wait.aio(raise_on_termination=False)
    assert await sandbox.poll.aio() == 3 and sandbox.returncode == 3
    assert await sandbox.stdout.read.aio() == f"hello from {sys.executable}\n"
    assert await sandbox.stderr.read.aio() == "oops\n"
    assert fake_sdk.CREATED[-1].args == ("python", "-c", code)
    assert fake_sdk.CREATED[-1].kwargs["app"] is app


async def test_poll_is_none_while_the_command_runs(fake_sdk: ModuleType) -> None:
    sandbox = await fake_sdk.Sandbox.create.aio("sleep", "30", app=await _app(fake_sdk))
    assert await sandbox.poll.aio() is None and sandbox.returncode is None
    await sandbox.terminate.aio()
    assert await sandbox.poll.aio() is not None


async def test_the_environment_drops_server_variables_and_adds_env_image_env_and_secrets(
        fake_sdk: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEER_HTTP_TOKEN", "server-only")
    monkeypatch.setenv("MODAL_TOKEN_ID", "server-only")
    fake_sdk.FAKE_SECRETS["hf"] = {"HF_TOKEN": "hf-secret"}
    names = ["SEER_HTTP_TOKEN", "MODAL_TOKEN_ID", "HF_TOKEN", "FROM_ENV", "FROM_IMAGE", "SEER_AGENT_TOKEN"]
    code = f"import json, os\nprint(json.dumps({{k: os.environ.get(k) for k in {names!r}}}))"
    image = fake_sdk.Image.debian_slim().env({"FROM_IMAGE": "image"})
    sandbox = await fake_sdk.Sandbox.create.aio(
        "python", "-c", code, app=await _app(fake_sdk), image=image, env={"FROM_ENV": "env"},
        secrets=[fake_sdk.Secret.from_name("hf"), fake_sdk.Secret.from_dict({"SEER_AGENT_TOKEN": "agent"})])
    seen = json.loads(await sandbox.stdout.read.aio())
    assert seen == {"SEER_HTTP_TOKEN": None, "MODAL_TOKEN_ID": None, "HF_TOKEN": "hf-secret", "FROM_ENV": "env",
                    "FROM_IMAGE": "image", "SEER_AGENT_TOKEN": "agent"}


async def test_the_command_runs_in_its_workdir(fake_sdk: ModuleType, tmp_path: Path) -> None:
    workdir = tmp_path / "container" / "work"
    sandbox = await fake_sdk.Sandbox.create.aio("pwd", app=await _app(fake_sdk), workdir=str(workdir))
    assert (await sandbox.stdout.read.aio()).strip() == str(workdir)


async def test_a_volume_is_mounted_as_a_symlink_to_its_directory(fake_sdk: ModuleType, tmp_path: Path) -> None:
    volume = fake_sdk.Volume.from_name("models", create_if_missing=True)
    assert fake_sdk.Volume.from_name("models") is volume
    source = tmp_path / "weights"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "config.json").write_text('{"ok": true}')
    (tmp_path / "one.txt").write_text("one")
    async with volume.batch_upload.aio(force=False) as batch:
        batch.put_directory(source, "/m0")
        batch.put_file(tmp_path / "one.txt", "/single/one.txt")
    with pytest.raises(FileExistsError):
        async with volume.batch_upload.aio(force=False) as batch:
            batch.put_file(tmp_path / "one.txt", "/single/one.txt")
    await volume.commit.aio()
    mount = tmp_path / "container" / "models"
    sandbox = await fake_sdk.Sandbox.create.aio(
        "cat", f"{mount}/m0/sub/config.json", f"{mount}/single/one.txt", app=await _app(fake_sdk),
        volumes={str(mount): volume.read_only()})
    assert await sandbox.stdout.read.aio() == '{"ok": true}one'
    assert mount.is_symlink() and mount.resolve() == volume.path.resolve()
    assert fake_sdk.CREATED[-1].kwargs["volumes"][str(mount)].is_read_only


async def test_a_volume_that_must_exist_is_not_found(fake_sdk: ModuleType, tmp_path: Path) -> None:
    volume = fake_sdk.Volume.from_name("absent")
    with pytest.raises(fake_sdk.exception.NotFoundError):
        await fake_sdk.Sandbox.create.aio("true", app=await _app(fake_sdk), volumes={str(tmp_path / "v"): volume})


SERVER = textwrap.dedent("""
    import http.server, sys
    port = int(sys.argv[sys.argv.index('--port') + 1])
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f'port {port}'.encode()
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    http.server.HTTPServer(('127.0.0.1', port), Hello).serve_forever()
""")


async def test_an_encrypted_port_is_rewritten_and_reached_through_its_tunnel(fake_sdk: ModuleType) -> None:
    sandbox = await fake_sdk.Sandbox.create.aio("python", "-c", SERVER, "--port", "8000", app=await _app(fake_sdk),
                                                encrypted_ports=[8000])
    tunnels = await sandbox.tunnels.aio(timeout=50)
    assert list(tunnels) == [8000]
    tunnel = tunnels[8000]
    assert tunnel.url == f"http://127.0.0.1:{tunnel.port}" and tunnel.host == "127.0.0.1"
    async with httpx.AsyncClient() as http:
        for _ in range(100):  # the server needs a moment to listen
            try:
                reply = await http.get(tunnel.url)
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the tunnel never answered")
    assert reply.text == f"port {tunnel.port}"
    await sandbox.terminate.aio()


async def test_a_snapshot_restores_its_files_into_the_new_sandboxs_root(fake_sdk: ModuleType, tmp_path: Path
                                                                       ) -> None:
    app = await _app(fake_sdk)
    first_root, second_root = tmp_path / "c1", tmp_path / "c2"
    # The container's filesystem is the directory that holds both --root and --workspace.
    write = "import pathlib, sys\np = pathlib.Path(sys.argv[4]) / 'kept.txt'\np.parent.mkdir(parents=True)\n" \
            "p.write_text('saved')\n(pathlib.Path(sys.argv[2]) / 'state').mkdir(parents=True)"
    first = await fake_sdk.Sandbox.create.aio("python", "-c", write, "--root", f"{first_root}/seer", "--workspace",
                                              f"{first_root}/workspace", app=app)
    await first.wait.aio()
    image = await first.snapshot_filesystem.aio()
    assert image.object_id.startswith("im-fake-") and image.snapshot_root == str(first_root)
    assert fake_sdk.FAKE_SNAPSHOTS[image.object_id] is image
    restored = await fake_sdk.Image.from_id.aio(image.object_id)
    assert restored is image
    read = "import pathlib, sys\nprint((pathlib.Path(sys.argv[4]) / 'kept.txt').read_text(), end='')"
    second = await fake_sdk.Sandbox.create.aio("python", "-c", read, "--root", f"{second_root}/seer", "--workspace",
                                               f"{second_root}/workspace", app=app, image=restored)
    assert await second.stdout.read.aio() == "saved"
    assert (second_root / "seer" / "state").is_dir()
    (first_root / "workspace" / "kept.txt").write_text("changed later")
    assert (second_root / "workspace" / "kept.txt").read_text() == "saved"
    with pytest.raises(fake_sdk.exception.NotFoundError):
        await fake_sdk.Image.from_id.aio("im-fake-nope")


async def test_a_sandbox_without_a_root_of_its_own_cannot_be_snapshot(fake_sdk: ModuleType) -> None:
    sandbox = await fake_sdk.Sandbox.create.aio("python", "-c", "pass", "--root", "/tmp", app=await _app(fake_sdk))
    with pytest.raises(fake_sdk.exception.InvalidError, match="share no directory"):
        await sandbox.snapshot_filesystem.aio()


async def test_from_id_finds_the_same_sandbox_and_refuses_an_unknown_id(fake_sdk: ModuleType) -> None:
    sandbox = await fake_sdk.Sandbox.create.aio("sleep", "30", app=await _app(fake_sdk))
    assert await fake_sdk.Sandbox.from_id.aio(sandbox.object_id) is sandbox
    with pytest.raises(fake_sdk.exception.NotFoundError):
        await fake_sdk.Sandbox.from_id.aio("sb-fake-unknown")
    await sandbox.terminate.aio()


async def test_terminate_kills_every_process_of_the_sandbox_and_is_idempotent(fake_sdk: ModuleType) -> None:
    # A child in a session of its own leaves the process group, as a kernel does; it must die all the same.
    code = ("import subprocess, sys, time\n"
            "p = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
            "print(p.pid, flush=True)\ntime.sleep(300)")
    sandbox = await fake_sdk.Sandbox.create.aio("python", "-c", code, app=await _app(fake_sdk))
    log = fake_sdk.FAKE_ROOT / "sandboxes" / sandbox.object_id / "stdout.log"
    for _ in range(100):
        if log.read_text().strip():
            break
        await asyncio.sleep(0.05)
    child = psutil.Process(int(log.read_text()))
    await sandbox.terminate.aio()
    await sandbox.terminate.aio()
    assert await sandbox.poll.aio() is not None
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    await sandbox.wait.aio(raise_on_termination=False)
    with pytest.raises(fake_sdk.exception.SandboxTerminatedError):
        await sandbox.wait.aio()


async def test_a_sandbox_past_its_timeout_is_stopped(fake_sdk: ModuleType) -> None:
    sandbox = await fake_sdk.Sandbox.create.aio("sleep", "30", app=await _app(fake_sdk), timeout=1)
    with pytest.raises(fake_sdk.exception.SandboxTimeoutError):
        await asyncio.wait_for(sandbox.wait.aio(), 10)


async def test_a_missing_secret_fails_create_with_not_found(fake_sdk: ModuleType) -> None:
    with pytest.raises(fake_sdk.exception.NotFoundError, match="Secret 'nope' not found"):
        await fake_sdk.Sandbox.create.aio("true", app=await _app(fake_sdk), secrets=[fake_sdk.Secret.from_name("nope")])
    fake_sdk.FAKE_SECRETS["partial"] = {"A": "1"}
    with pytest.raises(fake_sdk.exception.NotFoundError, match="missing key"):
        await fake_sdk.Sandbox.create.aio("true", app=await _app(fake_sdk),
                                          secrets=[fake_sdk.Secret.from_name("partial", required_keys=["B"])])


async def test_fail_next_create_raises_the_queued_error_once(fake_sdk: ModuleType) -> None:
    fake_sdk.FAIL_NEXT_CREATE.append(fake_sdk.exception.ResourceExhaustedError("no GPUs left"))
    app = await _app(fake_sdk)
    with pytest.raises(fake_sdk.exception.ResourceExhaustedError):
        await fake_sdk.Sandbox.create.aio("true", app=app)
    sandbox = await fake_sdk.Sandbox.create.aio("true", app=app)
    await sandbox.wait.aio()
    assert len(fake_sdk.CREATED) == 2  # the failed call is recorded too


async def test_gpu_names_are_checked_like_modal_does(fake_sdk: ModuleType) -> None:
    app = await _app(fake_sdk)
    for gpu in ("A100", "H100:2", "a10g", "A100-80GB:8"):
        sandbox = await fake_sdk.Sandbox.create.aio("true", app=app, gpu=gpu)
        await sandbox.wait.aio()
    for gpu in ("A1000", "H100:x", "TPU"):
        with pytest.raises(fake_sdk.exception.InvalidError):
            await fake_sdk.Sandbox.create.aio("true", app=app, gpu=gpu)


async def test_a_sandbox_needs_an_app(fake_sdk: ModuleType) -> None:
    with pytest.raises(fake_sdk.exception.InvalidError):
        await fake_sdk.Sandbox.create.aio("true")


def test_images_record_their_steps_and_stay_immutable(fake_sdk: ModuleType) -> None:
    base = fake_sdk.Image.debian_slim(python_version="3.11")
    image = (base.apt_install("git").pip_install("torch", "numpy").run_commands("echo hi")
             .add_local_python_source("seer_mcp", "toolkit", copy=True).env({"A": "1"}).workdir("/root/w"))
    assert base.steps == (("debian_slim", (), {"python_version": "3.11"}),)
    assert [name for name, _, _ in image.steps] == ["debian_slim", "apt_install", "pip_install", "run_commands",
                                                     "add_local_python_source", "env", "workdir"]
    assert image.step_args("pip_install") == [(("torch", "numpy"), {})]
    assert image.step_args("add_local_python_source") == [(("seer_mcp", "toolkit"), {"copy": True})]
    docker = fake_sdk.Image.from_dockerfile("/tmp/Dockerfile", add_python="3.12")
    assert docker.steps == (("from_dockerfile", ("/tmp/Dockerfile",), {"add_python": "3.12"}),)


def test_every_call_also_works_synchronously(fake_sdk: ModuleType) -> None:
    app = fake_sdk.App.lookup("seer-sync", create_if_missing=True)
    assert fake_sdk.App.lookup("seer-sync") is app and app.app_id.startswith("ap-fake-")
    sandbox = fake_sdk.Sandbox.create("echo", "sync", app=app)
    sandbox.wait()
    assert sandbox.poll() == 0 and sandbox.stdout.read() == "sync\n"
    sandbox.terminate()
    assert fake_sdk.Sandbox.from_id(sandbox.object_id) is sandbox


def test_reset_stops_sandboxes_and_empties_registries(fake_sdk: ModuleType, tmp_path: Path) -> None:
    app = fake_sdk.App.lookup("seer-reset", create_if_missing=True)
    sandbox = fake_sdk.Sandbox.create("sleep", "30", app=app)
    fake_sdk.FAKE_SECRETS["x"] = {"A": "1"}
    fake_sdk.reset(tmp_path / "again")
    assert sandbox.poll() is not None
    assert fake_sdk.CREATED == [] and fake_sdk.FAKE_SECRETS == {} and fake_sdk.FAKE_ROOT == tmp_path / "again"
    with pytest.raises(fake_sdk.exception.NotFoundError):
        fake_sdk.Sandbox.from_id(sandbox.object_id)

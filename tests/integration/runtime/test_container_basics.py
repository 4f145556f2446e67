"""A container runs its command in its own namespaces and root, and reports back."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from stackr.runtime import container
from stackr.runtime.errors import ContainerSetupError
from stackr.runtime.spec import ContainerSpec, ContainerStdio, MountSpec, RootfsSpec
from tests.integration.runtime.conftest import RunResult

pytestmark = pytest.mark.timeout(60)
Run = Callable[..., RunResult]


def test_output_and_exit_code_come_back(run: Run) -> None:
    result = run("sh", "-c", "echo hello from the container; echo oops >&2; exit 3")
    assert "hello from the container" in result.output
    assert "oops" in result.output
    assert result.state.status is container.Status.STOPPED
    assert result.state.exit_code == 3
    assert result.state.signal is None
    assert not result.state.oom_killed


def test_command_is_pid_1_and_sees_only_its_processes(run: Run) -> None:
    result = run("sh", "-c", "echo $$; ls /proc | grep -E '^[0-9]+$' | wc -l")
    pid_line, count_line = result.output.split()
    assert pid_line == "1"
    assert int(count_line) <= 4  # sh, ls, grep, wc: nothing of the host


def test_hostname_and_domainname(run: Run) -> None:
    result = run("sh", "-c", "hostname; cat /proc/sys/kernel/domainname",
                 hostname="web-1", domainname="example.test")  # fmt: skip
    assert result.output.split() == ["web-1", "example.test"]


def test_no_host_mounts_are_visible(run: Run, tmp_path: Path) -> None:
    result = run("cat", "/proc/self/mountinfo")
    targets = [line.split()[4] for line in result.output.splitlines()]
    assert targets[0] == "/"  # the overlay root, and below it only the container's own
    assert not [t for t in targets if t.startswith(("/tmp/", "/home", "/boot", "/work"))]
    assert "/sys/fs/cgroup" in targets  # the container's own, read-only (see below)


def test_masked_and_readonly_paths(run: Run) -> None:
    result = run("sh", "-c",
                 "cat /proc/timer_list | wc -c; ls /proc/acpi | wc -l; "
                 "echo 1 > /proc/sys/kernel/printk && echo wrote-proc-sys; "
                 "touch /sys/kernel/x && echo wrote-sys; mount -t tmpfs none /mnt && echo mounted; "
                 "true")  # fmt: skip
    lines = result.output.split("\n")
    assert lines[0].strip() == "0"  # /proc/timer_list reads as /dev/null (no kcore here)
    assert lines[1].strip() == "0"
    assert "wrote-proc-sys" not in result.output
    assert "wrote-sys" not in result.output
    assert "mounted" not in result.output


def test_default_capabilities_and_seccomp(run: Run) -> None:
    result = run("grep", "-E", "^(CapEff|CapBnd|Seccomp|NoNewPrivs):", "/proc/self/status")
    fields = dict(line.split(":\t") for line in result.output.strip().splitlines())
    assert fields["CapEff"] == "00000000a80425fb"  # Docker's default set
    assert fields["CapBnd"] == "00000000a80425fb"
    assert fields["Seccomp"] == "2"
    assert fields["NoNewPrivs"] == "0"


def test_cap_add_drop_and_no_new_privileges(run: Run) -> None:
    result = run("grep", "-E", "^(CapEff|NoNewPrivs):", "/proc/self/status",
                 cap_add=("NET_ADMIN",), cap_drop=("CHOWN", "CAP_KILL"),
                 no_new_privileges=True)  # fmt: skip
    fields = dict(line.split(":\t") for line in result.output.strip().splitlines())
    expected = (0xA80425FB | (1 << 12)) & ~(1 << 0) & ~(1 << 5)
    assert int(fields["CapEff"], 16) == expected
    assert fields["NoNewPrivs"] == "1"


def test_privileged_has_every_capability_the_host_lets_the_engine_hold(run: Run) -> None:
    # Where the host withholds one (these VMs: CAP_SYS_RESOURCE), asking for it would
    # fail the capset, and the container with it.
    from stackr.runtime.security import bounding_set_mask

    result = run("sh", "-c", "grep ^CapEff: /proc/self/status; mkdir /m && "
                 "mount -t tmpfs none /m && echo mounted", privileged=True)
    assert result.state.exit_code == 0, result.output
    assert int(result.output.split()[1], 16) == bounding_set_mask()
    assert "mounted" in result.output
    every = run("grep", "^CapEff:", "/proc/self/status", cap_add=("ALL",))
    assert int(every.output.split()[1], 16) == bounding_set_mask()


def test_seccomp_refuses_unshare_and_unconfined_allows_it(run: Run) -> None:
    confined = run("unshare", "-u", "true", cap_add=("SYS_ADMIN",), seccomp="default")
    assert confined.state.exit_code == 0  # SYS_ADMIN lifts the namespace rules, as Docker
    refused = run("unshare", "-u", "true")
    assert refused.state.exit_code != 0
    assert "Operation not permitted" in refused.output


def test_user_by_name_with_supplementary_groups(run: Run) -> None:
    result = run("sh", "-c", "id; grep CapEff /proc/self/status; echo $HOME", user="app")
    assert "uid=1000(app) gid=1000(app)" in result.output
    assert "audio" in result.output and "staff" in result.output
    assert "CapEff:\t0000000000000000" in result.output
    assert "/home/app" in result.output


def test_user_by_number_and_group(run: Run) -> None:
    result = run("id", user="1234:50", group_add=("audio",))
    assert "uid=1234 gid=50(staff) groups=29(audio)" in result.output


def test_unknown_user_fails_create(run: Run) -> None:
    with pytest.raises(ContainerSetupError, match="unable to find user ghost"):
        run("true", user="ghost")


def test_missing_command_fails_create(run: Run) -> None:
    with pytest.raises(ContainerSetupError, match="executable file not found"):
        run("no-such-command")


def test_writes_land_in_upper_dir_and_layers_stay_untouched(
    make_spec: Callable[..., ContainerSpec], busybox_layer: Path, cleanup: list[str]
) -> None:
    spec = make_spec("sh", "-c", "echo data > /written; rm /etc/group")
    cleanup.append(spec.container_id)
    container.create(spec)
    container.start(spec.container_id)
    assert container.wait(spec.container_id, 30).exit_code == 0
    upper = container.rw_layer_dir(spec.container_id) / "upper"
    assert (upper / "written").read_text() == "data\n"
    assert (busybox_layer / "etc/group").exists()
    assert not (busybox_layer / "written").exists()
    # A failed re-create keeps the writable layer too.
    with pytest.raises(ContainerSetupError):
        container.create(make_spec("no-such-command", container_id=spec.container_id))
    assert (upper / "written").exists()
    # Re-created after a stop, the container keeps its writable layer.
    again = make_spec("cat", "/written", container_id=spec.container_id)
    read_end, write_end = os.pipe()
    container.create(again, ContainerStdio(stdout=write_end))
    os.close(write_end)
    container.start(spec.container_id)
    assert os.read(read_end, 100) == b"data\n"
    os.close(read_end)
    container.wait(spec.container_id, 30)
    container.delete(spec.container_id)
    assert not container.rw_layer_dir(spec.container_id).exists()


def test_read_only_root_refuses_writes(run: Run) -> None:
    result = run("sh", "-c", "touch /x && echo wrote-root; touch /tmp/y && echo wrote-tmpfs",
                 read_only=True, mounts=(MountSpec(target="/tmp", kind="tmpfs"),))  # fmt: skip
    assert "wrote-root" not in result.output
    assert "Read-only file system" in result.output
    assert "wrote-tmpfs" in result.output


def test_bind_mounts_honour_read_only(run: Run, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from host\n")
    result = run("sh", "-c",
                 "cat /ro/in.txt; echo x > /ro/new && echo wrote-ro; echo out > /rw/out.txt",
                 mounts=(MountSpec(target="/ro", source=str(shared), read_only=True),
                         MountSpec(target="/rw", source=str(shared), kind="volume")))  # fmt: skip
    assert "from host" in result.output
    assert "wrote-ro" not in result.output
    assert (shared / "out.txt").read_text() == "out\n"
    assert not (shared / "new").exists()


def test_tmpfs_mount_with_size(run: Run) -> None:
    result = run("sh", "-c", "grep ' /cache ' /proc/mounts",
                 mounts=(MountSpec(target="/cache", kind="tmpfs", tmpfs_size=4 * 1024 * 1024,
                                   tmpfs_mode=0o700),))  # fmt: skip
    assert "tmpfs /cache tmpfs" in result.output
    assert "size=4096k" in result.output
    assert "mode=700" in result.output


def test_etc_files_are_bind_mounted(run: Run, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3 db\n")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.1.2.1\n")
    result = run("cat", "/etc/hosts", "/etc/resolv.conf",
                 hosts_file=str(hosts), resolv_conf_file=str(resolv))  # fmt: skip
    assert result.output == "10.1.2.3 db\nnameserver 10.1.2.1\n"


def test_env_cwd_umask_and_ulimits(run: Run) -> None:
    from stackr.runtime.spec import Ulimit

    result = run("sh", "-c", "echo $GREETING; pwd; umask; ulimit -n",
                 env=("PATH=/bin", "GREETING=hi"), cwd="/work/dir", umask=0o027,
                 ulimits=(Ulimit("nofile", 512, 1024),))  # fmt: skip
    assert result.output.split() == ["hi", "/work/dir", "0027", "512"]


def test_shm_size_and_dev_nodes(run: Run) -> None:
    result = run("sh", "-c", "df -k /dev/shm | tail -1; ls /dev; echo x > /dev/null && echo ok",
                 shm_size=8 * 1024 * 1024)  # fmt: skip
    assert " 8192 " in result.output
    for node in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx"):
        assert node in result.output.split()
    assert "ok" in result.output


def test_namespaced_sysctl(run: Run) -> None:
    result = run("cat", "/proc/sys/kernel/shmmni", sysctls={"kernel.shmmni": "1234"})
    assert result.output.strip() == "1234"


def test_host_sysctl_is_refused(run: Run) -> None:
    with pytest.raises(ContainerSetupError, match="not namespaced"):
        run("true", sysctls={"kernel.panic": "1"})


def test_plain_rootfs_dir(run: Run, busybox_layer: Path) -> None:
    result = run("sh", "-c", "echo ok > /marker; cat /marker",
                 rootfs=RootfsSpec(rootfs_dir=str(busybox_layer)))  # fmt: skip
    assert result.output == "ok\n"
    assert (busybox_layer / "marker").exists()


def test_device_allow_list_refuses_host_disks(run: Run) -> None:
    # CAP_MKNOD makes the node; the devices cgroup refuses to open it (Docker's rules).
    result = run(
        "sh", "-c", "mknod /tmp/disk b 7 0 && echo made; head -c1 /tmp/disk || echo refused"
    )
    assert "made" in result.output
    assert "refused" in result.output
    assert "Operation not permitted" in result.output


def test_sys_fs_cgroup_shows_the_containers_own_cgroup_read_only(run: Run) -> None:
    from stackr.cgroups import CgroupSetup, detect_setup
    from stackr.runtime.spec import Resources

    limit_file = (
        "/sys/fs/cgroup/memory.max"
        if detect_setup() is CgroupSetup.UNIFIED
        else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    )
    result = run("sh", "-c", f"cat {limit_file}; grep -c :/$ /proc/self/cgroup; "
                 "echo 1 > /sys/fs/cgroup/x || echo refused",
                 resources=Resources(memory=48 * 1024 * 1024))  # fmt: skip
    lines = result.output.split("\n")
    assert lines[0] == str(48 * 1024 * 1024)
    assert int(lines[1]) >= 1  # the cgroup namespace: its root is the container's cgroup
    assert "refused" in result.output


def test_swappiness_and_a_disabled_oom_killer_on_cgroup_v1(run: Run) -> None:
    from stackr.cgroups import CgroupSetup, detect_setup
    from stackr.runtime.spec import Resources

    if detect_setup() is CgroupSetup.UNIFIED:
        pytest.skip("cgroup v2 has neither (Docker discards both there too)")
    result = run("sh", "-c", "cat /sys/fs/cgroup/memory/memory.swappiness; "
                 "grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control",
                 resources=Resources(memory=32 << 20, memory_swappiness=7,
                                     disable_oom_killer=True))  # fmt: skip
    assert result.output.split("\n")[:2] == ["7", "oom_kill_disable 1"]


def test_the_hosts_uts_and_cgroup_namespaces(run: Run) -> None:
    own = run("sh", "-c", "hostname; grep -c :/$ /proc/self/cgroup", hostname="inside")
    assert own.output.split("\n")[:2] == ["inside", str(_cgroup_lines())]
    hosted = run("sh", "-c", "hostname; echo $HOSTNAME; grep -c :/$ /proc/self/cgroup",
                 uts_namespace="host", cgroup_namespace="host")
    lines = hosted.output.split("\n")
    assert lines[:2] == [os.uname().nodename] * 2
    assert int(lines[2]) < _cgroup_lines()  # its cgroups are seen from the host's root


def _cgroup_lines() -> int:
    return len(Path("/proc/self/cgroup").read_text().splitlines())


def test_many_layers_with_long_paths(run: Run, busybox_layer: Path, tmp_path: Path) -> None:
    # 40 layers named by digest in a store with a long path: more than the one page of
    # mount data as absolute paths, within it as paths relative to the store.
    store = tmp_path / ("store-" + "s" * 100)
    store.mkdir()
    (store / ("0" * 64)).symlink_to(busybox_layer)
    layers = [str(store / ("0" * 64))]
    for index in range(1, 41):
        layer = store / f"{index:064x}"
        (layer / "etc").mkdir(parents=True)
        (layer / "etc" / "layer").write_text(f"{index}\n")
        layers.append(str(layer))
    assert len(":".join(layers)) > 4096
    result = run("cat", "/etc/layer", rootfs=RootfsSpec(layer_dirs=tuple(layers)))
    assert result.output == "40\n"  # the top layer wins

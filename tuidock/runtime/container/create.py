"""Creating a container: options -> config.json, spec.json and the directory around them.

`create` resolves the image (under the shared gc lock, so an rmi cannot drop
it meanwhile), builds the Docker-shaped config, reserves ID and name, then
prepares the directory: the overlay dirs, the /etc files, the bridge address
(allocated now so /etc/hosts can name it), the volumes and mounts, the
seccomp filter and the spec the monitor hands to the isolation code. A
failure at any step takes everything back: the directory, new anonymous
volumes, the address. Containers.create (service.py) is the entry point.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tuidock.core.spec import ContainerSpec, Limits, MountSpec
from tuidock.errors import UsageError
from tuidock.runtime.container import etcfiles
from tuidock.runtime.container.options import (
    CreateOptions,
    MountRequest,
    check_options,
    merge_env,
    normalize_caps,
    on_bridge,
    parse_mounts,
    resolve_command,
)
from tuidock.runtime.store import ctrlayout, events
from tuidock.runtime.store.containers import ContainerStore, new_id, now_rfc3339, write_json

TYPE_CHECKING = False  # typing itself costs ~2 ms of a CLI start
if TYPE_CHECKING:
    from tuidock.runtime.container.securityopt import SecurityOptions
    from tuidock.runtime.image.service import ImageService


def create(
    images: ImageService, store: ContainerStore, opts: CreateOptions
) -> tuple[str, list[str]]:
    """Make a container (not started); returns its ID and warnings."""
    from tuidock.runtime.container import securityopt
    from tuidock.runtime.linux.locking import file_lock

    policy = check_options(opts)
    security = securityopt.parse(opts.security_opt, opts.privileged)
    warnings: list[str] = []
    # Shared gc lock: an rmi cannot drop the image between our lookup and config.json.
    with file_lock(images.gc_lock, shared=True):
        rec = images.image(opts.image)
        image_cfg = (images.image_config(rec).get("config")) or {}
        if not rec.chain_ids:
            raise UsageError(f"image {opts.image} has no layers: nothing to run")
        entrypoint, cmd = resolve_command(opts, image_cfg)
        args = entrypoint + cmd
        cid = new_id()
        hostname = opts.hostname or (socket.gethostname() if opts.network == "host" else cid[:12])
        env = merge_env(list(image_cfg.get("Env") or []), opts.env_files, opts.env)
        labels = {**(image_cfg.get("Labels") or {}), **opts.labels}
        stop_signal = opts.stop_signal or image_cfg.get("StopSignal") or "SIGTERM"
        files = store.files(cid)
        config = {
            "Id": cid,
            "Created": now_rfc3339(),
            "Path": args[0],
            "Args": args[1:],
            "Image": rec.id,
            "ImageName": opts.image,
            "ChainIDs": rec.chain_ids,
            "Config": {
                "Hostname": hostname,
                "Domainname": "",
                "User": opts.user if opts.user is not None else image_cfg.get("User", ""),
                "AttachStdin": opts.stdin,
                "AttachStdout": True,
                "AttachStderr": True,
                "ExposedPorts": image_cfg.get("ExposedPorts") or {},
                "Tty": opts.tty,
                "OpenStdin": opts.stdin,
                "StdinOnce": opts.stdin,
                "Env": env,
                "Cmd": cmd,
                "Image": opts.image,
                "Volumes": image_cfg.get("Volumes") or {},
                "WorkingDir": opts.workdir or image_cfg.get("WorkingDir") or "",
                "Entrypoint": entrypoint or None,
                "Labels": labels,
                "StopSignal": stop_signal,
                **({"StopTimeout": opts.stop_timeout} if opts.stop_timeout is not None else {}),
            },
            "HostConfig": {
                "Memory": opts.memory or 0,
                "NanoCpus": round(opts.cpus * 1e9) if opts.cpus else 0,
                "PidsLimit": opts.pids_limit,
                "ReadonlyRootfs": opts.read_only,
                "CapAdd": normalize_caps(opts.cap_add) or None,
                "CapDrop": normalize_caps(opts.cap_drop) or None,
                "Privileged": opts.privileged,
                "SecurityOpt": security.stored or None,
                "NetworkMode": opts.network,
                "RestartPolicy": policy,
                "AutoRemove": opts.auto_remove,
                "Init": opts.init,
                "PortBindings": {},
                # bridge networking options
                "PublishAllPorts": opts.publish_all,
                "Dns": list(opts.dns),
                "ExtraHosts": list(opts.add_hosts) or None,
                "Binds": list(opts.volumes) or None,
                "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in opts.tmpfs} or None,
            },
            "Mounts": [],  # filled by _prepare once volumes exist
            "LogPath": files.log,
            "HostnamePath": files.hostname,
            "HostsPath": files.hosts,
            "ResolvConfPath": files.resolv_conf,
        }
        store.create(cid, config, opts.name)
    try:
        _prepare(images, store, cid, rec, config, opts, security)
    except BaseException:
        from tuidock.runtime.store.volumes import VolumeStore

        mounts = config.get("Mounts") or []
        store.remove_dir(cid)
        VolumeStore(store.root).remove_anonymous(mounts)
        if on_bridge(opts.network):  # give the address back
            from tuidock.runtime.network import endpoint

            endpoint.release(store.root, cid)
        raise
    events.record_container(store.root, "create", cid, config)
    return cid, warnings


def _prepare(
    images: ImageService,
    store: ContainerStore,
    cid: str,
    rec: object,
    config: dict,
    opts: CreateOptions,
    security: SecurityOptions,
) -> None:
    """The container directory: overlay dirs, /etc files, spec.json."""
    files = store.files(cid)
    for sub in ctrlayout.OVERLAY_DIRS:
        os.mkdir(files.file(sub))
    # The upper dir's root is the container's "/": it must be traversable by everyone.
    os.chmod(files.upper, 0o755)
    cfg = config["Config"]
    hostname = cfg["Hostname"]
    Path(files.hostname).write_text(hostname + "\n")
    # on the bridge, the address is allocated now so /etc/hosts can name it.
    ep = _plan_network(store, cid, config, opts) if on_bridge(opts.network) else None
    ip = ep["IPAddress"] if ep else None
    spec_network = f"netns:{ep['NetnsPath']}" if ep else opts.network
    if opts.network.startswith("container:"):
        spec_network, ip = _joined_network(store, opts.network.removeprefix("container:"))
    hosts = etcfiles.hosts_file(opts.network, hostname, ip, opts.add_hosts)
    if ep and ep.get("GlobalIPv6Address"):  # dual-stack user network
        hosts += f"{ep['GlobalIPv6Address']}\t{hostname}\n"
    Path(files.hosts).write_text(hosts)
    Path(files.resolv_conf).write_text(etcfiles.resolv_conf(opts.network, opts.dns))
    if ep and ep["NetworkID"] != "bridge":
        from tuidock.runtime.network.ipam import Ipam

        Ipam(store.root, ep["NetworkID"]).publish_names(cid)  # peers' names
    env = list(cfg["Env"])
    if not any(e.startswith("HOSTNAME=") for e in env):
        env.append(f"HOSTNAME={hostname}")
    if opts.tty and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    spec = ContainerSpec(
        id=cid,
        hostname=hostname,
        args=[config["Path"], *config["Args"]],
        env=env,
        cwd=cfg["WorkingDir"] or "/",
        user=cfg["User"] or "",
        terminal=opts.tty,
        stdin=opts.stdin,
        lower_dirs=[
            str(images.layers.diff_dir(c))
            for c in reversed(rec.chain_ids)  # type: ignore[attr-defined]
        ],
        upper_dir=files.upper,
        work_dir=files.work,
        rootfs=files.merged,
        readonly_rootfs=opts.read_only,
        network=spec_network,
        cap_add=config["HostConfig"]["CapAdd"] or [],
        cap_drop=config["HostConfig"]["CapDrop"] or [],
        privileged=opts.privileged,
        init=opts.init,
        etc_files={
            "/etc/hostname": files.hostname,
            "/etc/hosts": files.hosts,
            "/etc/resolv.conf": files.resolv_conf,
        },
        limits=Limits(memory=opts.memory, cpus=opts.cpus, pids=opts.pids_limit),
        stop_signal=cfg["StopSignal"],
    )
    from tuidock.runtime.container import securityopt
    from tuidock.runtime.linux.capabilities import effective_caps

    caps = effective_caps(spec.cap_add, spec.cap_drop, spec.privileged)
    spec.seccomp_filter = securityopt.write_filter(
        security, caps, store.path(cid), store.root / "seccomp-cache"
    )
    spec.no_new_privs = security.no_new_privs
    spec.mounts = _resolve_mounts(store.root, opts, cfg, spec.lower_dirs, config["Mounts"])
    # The isolation code binds /etc/hosts & co. before the user's mounts: a
    # mount on /etc (or above) would hide them. Such files become ordinary
    # mounts, which are stacked shallowest first, so they land on top, as
    # Docker orders its mounts.
    for dest, source in list(spec.etc_files.items()):
        if any(
            dest.startswith(os.path.normpath(m.destination).rstrip("/") + "/") for m in spec.mounts
        ):
            del spec.etc_files[dest]
            ro = ["ro"] if opts.read_only else []
            spec.mounts.append(MountSpec(dest, "bind", source, ["bind", *ro]))
    if config["Mounts"]:
        store.write_config(cid, config)  # `volume rm` sees the container from now on
    # spec.save() would fsync; like state.json this file needs no power-loss durability.
    write_json(Path(files.spec), spec.as_dict())


def _resolve_mounts(
    root: Path, opts: CreateOptions, cfg: dict, lower_dirs: list[str], docs: list[dict]
) -> list[MountSpec]:
    """-v/--mount/--tmpfs and the image's VOLUMEs -> the spec's mounts.

    Docker's `Mounts` entries are appended to `docs` (the config's list)
    as each volume is made, so a create failing halfway still knows which
    anonymous volumes to take back. Anonymous volumes get random names; a
    new empty volume receives the image's content at its target, as Docker's.
    """
    from tuidock.runtime.container.volumepopulate import populate
    from tuidock.runtime.store.volumes import VolumeStore

    reqs = parse_mounts(opts)
    taken = {r.target for r in reqs}
    for target in cfg.get("Volumes") or {}:
        target = os.path.normpath(target)
        if target not in taken and target != "/":
            reqs.append(MountRequest("volume", target))
            taken.add(target)
    volumes = VolumeStore(root)
    specs: list[MountSpec] = []
    for r in reqs:
        ro = ["ro"] if r.readonly else []
        if r.type == "bind":
            if not os.path.exists(r.source):
                if not r.create_source:
                    raise UsageError(
                        'invalid mount config for type "bind": bind source path does not '
                        f"exist: {r.source}"
                    )
                os.makedirs(r.source, exist_ok=True)  # as Docker's -v
            specs.append(MountSpec(r.target, "bind", r.source, ["rbind", *ro]))
            docs.append(
                {
                    "Type": "bind",
                    "Source": r.source,
                    "Destination": r.target,
                    "Mode": "ro" if r.readonly else "",
                    "RW": not r.readonly,
                    "Propagation": "rprivate",
                }
            )
        elif r.type == "volume":
            record, _ = volumes.create(r.source or None)
            data = record["Mountpoint"]
            specs.append(MountSpec(r.target, "bind", data, ["rbind", *ro]))
            docs.append(
                {
                    "Type": "volume",
                    "Name": record["Name"],
                    "Source": data,
                    "Destination": r.target,
                    "Driver": "local",
                    "Mode": "z" if r.source else "",
                    "RW": not r.readonly,
                    "Propagation": "",
                }
            )
            populate(Path(data), lower_dirs, r.target)
        else:
            specs.append(MountSpec(r.target, "tmpfs", "", list(r.options)))
            docs.append(
                {
                    "Type": "tmpfs",
                    "Source": "",
                    "Destination": r.target,
                    "Mode": "",
                    "RW": not r.readonly,
                    "Propagation": "",
                }
            )
    return specs


def _plan_network(store: ContainerStore, cid: str, config: dict, opts: CreateOptions) -> dict:
    """Allocate the bridge address, record the endpoint in network.json."""
    from tuidock.runtime.network import endpoint, ports

    mappings = [m for p in opts.publish for m in ports.parse_publish(p)]
    if opts.publish_all:
        mappings += ports.exposed_ports(config["Config"]["ExposedPorts"])
    config["HostConfig"]["PortBindings"] = ports.port_bindings(mappings)
    store.write_config(cid, config)
    ep = endpoint.plan(store.root, cid, opts.ip, mappings, opts.network, opts.network_aliases)
    write_json(Path(store.files(cid).network), ep)
    return ep


def _joined_network(store: ContainerStore, ref: str) -> tuple[str, str | None]:
    """--network container:REF: (spec.network, address) of REF's network.

    The netns file of a bridge container exists while it runs; joining a
    stopped one fails at start ("no such file"), as Docker refuses it too.
    """
    from tuidock.runtime.network import endpoint

    other = store.resolve(ref)
    mode = store.read_config(other)["HostConfig"].get("NetworkMode", "")
    if mode == "host":
        return "host", None
    ep = endpoint.load(store.path(other))
    if ep is None:
        raise UsageError(
            f"cannot join the network of container {ref}: its network mode is {mode!r}",
            "Only containers on the bridge (or host) network can be joined.",
        )
    return f"netns:{ep['NetnsPath']}", ep["IPAddress"]

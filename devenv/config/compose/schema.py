"""The keys the Compose Specification allows (from compose-spec.json as shipped
in docker compose v2.40), so that a typo is caught the way Compose catches it."""

from __future__ import annotations

TOP_LEVEL_KEYS = frozenset(
    (
        "configs",
        "include",
        "models",
        "name",
        "networks",
        "secrets",
        "services",
        "version",
        "volumes",
    )
)

SERVICE_KEYS = frozenset(
    (
        "annotations",
        "attach",
        "blkio_config",
        "build",
        "cap_add",
        "cap_drop",
        "cgroup",
        "cgroup_parent",
        "command",
        "configs",
        "container_name",
        "cpu_count",
        "cpu_percent",
        "cpu_period",
        "cpu_quota",
        "cpu_rt_period",
        "cpu_rt_runtime",
        "cpu_shares",
        "cpus",
        "cpuset",
        "credential_spec",
        "depends_on",
        "deploy",
        "develop",
        "device_cgroup_rules",
        "devices",
        "dns",
        "dns_opt",
        "dns_search",
        "domainname",
        "entrypoint",
        "env_file",
        "environment",
        "expose",
        "extends",
        "external_links",
        "extra_hosts",
        "gpus",
        "group_add",
        "healthcheck",
        "hostname",
        "image",
        "init",
        "ipc",
        "isolation",
        "label_file",
        "labels",
        "links",
        "logging",
        "mac_address",
        "mem_limit",
        "mem_reservation",
        "mem_swappiness",
        "memswap_limit",
        "models",
        "network_mode",
        "networks",
        "oom_kill_disable",
        "oom_score_adj",
        "pid",
        "pids_limit",
        "platform",
        "ports",
        "post_start",
        "pre_stop",
        "privileged",
        "profiles",
        "provider",
        "pull_policy",
        "pull_refresh_after",
        "read_only",
        "restart",
        "runtime",
        "scale",
        "secrets",
        "security_opt",
        "shm_size",
        "stdin_open",
        "stop_grace_period",
        "stop_signal",
        "storage_opt",
        "sysctls",
        "tmpfs",
        "tty",
        "ulimits",
        "use_api_socket",
        "user",
        "userns_mode",
        "uts",
        "volumes",
        "volumes_from",
        "working_dir",
    )
)

HEALTHCHECK_KEYS = frozenset(
    ("disable", "interval", "retries", "start_interval", "start_period", "test", "timeout")
)
DEPENDS_ON_KEYS = frozenset(("condition", "required", "restart"))
PORT_KEYS = frozenset(
    ("app_protocol", "host_ip", "mode", "name", "protocol", "published", "target")
)
VOLUME_KEYS = frozenset(
    ("bind", "consistency", "image", "read_only", "source", "target", "tmpfs", "type", "volume")
)
VOLUME_TYPES = frozenset(("bind", "volume", "tmpfs", "npipe", "image", "cluster"))
INCLUDE_KEYS = frozenset(("path", "env_file", "project_directory"))
EXTENDS_KEYS = frozenset(("service", "file"))
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
DEVELOP_KEYS = frozenset(("watch",))
WATCH_KEYS = frozenset(("action", "exec", "ignore", "include", "initial_sync", "path", "target"))
WATCH_ACTIONS = ("rebuild", "sync", "restart", "sync+restart", "sync+exec")
# Actions that copy files into the container need to know where (Compose refuses them without).
SYNC_ACTIONS = frozenset(("sync", "sync+restart", "sync+exec"))
HOOK_KEYS = frozenset(("command", "environment", "privileged", "user", "working_dir"))

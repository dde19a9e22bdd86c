"""Pod Security Standards facts shared by the components that set them and the policy pack that
checks them. Imports nothing but the standard library (the engine runs the pack with only
`policy/` on `sys.path`).
"""

# The capabilities a container may add under `baseline`
# (kubernetes/pod-security-admission@8f84a87 policy/check_capabilities_baseline.go:62-75,
# capabilities_allowed_1_0; compared verbatim there too, so `CAP_CHOWN` is not `CHOWN`).
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)

# Sysctls a pod may set under `baseline` on every version the label `enforce-version: latest` may
# mean (kubernetes/pod-security-admission@8f84a87 policy/check_sysctls.go:91-98,
# sysctlsAllowedV1Dot0; later versions only add to it, :99-115). Compared verbatim (:143).
BASELINE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
)

# Seccomp under `baseline`: an explicit `seccompProfile.type` must be RuntimeDefault or Localhost,
# an alpha annotation `runtime/default`, `docker/default` or `localhost/...`
# (kubernetes/pod-security-admission@8f84a87 policy/check_seccompProfile_baseline.go:48-49,75-84).
BASELINE_SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
BASELINE_SECCOMP_ANNOTATIONS = frozenset({"runtime/default", "docker/default"})
SECCOMP_LOCALHOST_PREFIX = "localhost/"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
ENFORCED_LEVELS = frozenset({"baseline", "restricted"})
"""A namespace's pods are held to `baseline` (or stricter) by the API server only with this label
(kubernetes/pod-security-admission@8f84a87 api/constants.go:40, EnforceLevelLabel;
an absent label means the cluster default, `privileged` unless configured)."""

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

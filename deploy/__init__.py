"""deploy/: the cluster recipe (Kamailio, systemd, Grafana) and ``make cluster``."""

"""stats rows (docker's arithmetic and units) and the update body."""

from hako.cli.commands import stats, update


SAMPLE = {
    "read": "2026-01-01T00:00:01Z", "name": "/web",
    "cpu_stats": {"cpu_usage": {"total_usage": 400, "percpu_usage": [1, 1]},
                  "system_cpu_usage": 2000, "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 200}, "system_cpu_usage": 1000},
    "memory_stats": {"usage": 3 * 1024 * 1024, "limit": 64 * 1024 * 1024,
                     "stats": {"total_inactive_file": 1024 * 1024}},
    "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 20}},
    "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096},
                                                   {"op": "Write", "value": 0}]},
    "pids_stats": {"current": 3},
}


def test_row_matches_docker_formatting():
    row = stats.row("web", "a" * 64, "web", SAMPLE)
    assert row == {"Container": "web", "ID": "a" * 12, "Name": "web", "CPUPerc": "40.00%",
                   "MemUsage": "2MiB / 64MiB", "MemPerc": "3.12%", "NetIO": "1.5kB / 20B",
                   "BlockIO": "4.1kB / 0B", "PIDs": "3"}


def test_row_without_a_sample_is_zeros():
    row = stats.row("x", "b" * 64, "", None, trunc=False)
    assert row["ID"] == "b" * 64 and row["CPUPerc"] == "0.00%" and row["Name"] == "--"


def test_update_sends_only_the_flags_given():
    opts, _ = update._parser().parse(["--memory", "64m", "--restart", "on-failure:3", "c"])
    assert update.body_of(opts) == {"Memory": 64 * 1024 * 1024, "RestartPolicy": {
        "Name": "on-failure", "MaximumRetryCount": 3}}

"""The stream engine's memory bounds from the environment (runtime/memory.py,
docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import rocksdict

from claimscrub.runtime.engine import make_application
from claimscrub.runtime.memory import MB, BoundedRocksDBOptions, EngineMemory
from claimscrub.runtime.settings import Settings, SettingsError


def test_defaults_bound_memtables_cache_and_prefetch() -> None:
    m = EngineMemory.from_env({})
    options = m.rocksdb_options()
    assert isinstance(options, BoundedRocksDBOptions)
    assert options.memtable_budget == 32 * MB
    assert options.write_buffer_size == 4 * MB
    assert options.max_write_buffer_number == 2
    assert options.block_cache_size == 32 * MB
    assert m.consumer_config() == {"queued.max.messages.kbytes": 2048}


def test_each_bound_comes_from_its_variable() -> None:
    m = EngineMemory.from_env(
        {
            "CLAIMSCRUB_STATE_MEMTABLE_MB": "64",
            "CLAIMSCRUB_STATE_WRITE_BUFFER_MB": "64",
            "CLAIMSCRUB_STATE_BLOCK_CACHE_MB": "128",
            "CLAIMSCRUB_CONSUMER_QUEUE_KB": "1",
        }
    )
    options = m.rocksdb_options()
    assert (options.memtable_budget, options.write_buffer_size) == (64 * MB, 64 * MB)
    assert options.block_cache_size == 128 * MB
    assert m.consumer_config() == {"queued.max.messages.kbytes": 1}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLAIMSCRUB_STATE_BLOCK_CACHE_MB": "0"}, "at least 1"),
        ({"CLAIMSCRUB_CONSUMER_QUEUE_KB": "2M"}, "whole number"),
        # One memtable larger than the budget of them all.
        (
            {"CLAIMSCRUB_STATE_MEMTABLE_MB": "4", "CLAIMSCRUB_STATE_WRITE_BUFFER_MB": "5"},
            "at most CLAIMSCRUB_STATE_MEMTABLE_MB",
        ),
    ],
)
def test_a_bad_bound_stops_the_service_at_start_up(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env("necessity", grpc_port=1, metrics_port=2, env=env)


def test_the_options_open_a_store_that_reads_back(tmp_path: Path) -> None:
    db = rocksdict.Rdict(
        str(tmp_path / "db"), options=EngineMemory().rocksdb_options().to_options()
    )
    try:
        db[b"k"] = b"v"
        assert db[b"k"] == b"v"
    finally:
        db.close()


def test_the_application_carries_the_bounds() -> None:
    settings = Settings.from_env(
        "necessity",
        grpc_port=1,
        metrics_port=2,
        env={"CLAIMSCRUB_CONSUMER_QUEUE_KB": "512", "CLAIMSCRUB_STATE_BLOCK_CACHE_MB": "8"},
    )
    app = make_application(settings)
    assert app.config.consumer_extra_config["queued.max.messages.kbytes"] == 512
    rocks = app.config.rocksdb_options
    assert isinstance(rocks, BoundedRocksDBOptions) and rocks.block_cache_size == 8 * MB

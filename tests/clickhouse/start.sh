#!/usr/bin/env bash
# Starts the ClickHouse servers the scale-out tests run against, on loopback,
# under target/clickhouse (data, logs, configs), and prints the variables the
# tests read:
#
#   SEGLAB_CLICKHOUSE_SINGLE   one clickhouse-server (Debian's package)
#   SEGLAB_CLICKHOUSE_CLUSTER  the first of two servers forming the 2-shard
#                              cluster `seglab` (a Distributed table on either)
#   SEGLAB_CLICKHOUSE_CHDB     a loopback HTTP shim over chDB (tests/clickhouse/chdb_shim.py):
#                              a current ClickHouse, in-process
#
# Installs what is missing first (clickhouse-server with apt, chdb in a venv
# under target/). Idempotent: servers already answering are left running.
# `start.sh stop` stops what it started.
#
# Use:  eval "$(bash tests/clickhouse/start.sh)"
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
run="$root/target/clickhouse"
venv="$root/target/chdb-venv"
mkdir -p "$run"

# name http_port tcp_port interserver_port
servers=("single 18123 19000 19009" "shard1 18124 19001 19010" "shard2 18125 19002 19011")
chdb_port=18126

log() { echo "start.sh: $*" >&2; }

stop() {
    for pidfile in "$run"/*.pid; do
        [ -e "$pidfile" ] || continue
        pid="$(cat "$pidfile")"
        kill "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi

answers() { curl -fsS "http://127.0.0.1:$1/ping" >/dev/null 2>&1; }

install_server() {
    command -v clickhouse-server >/dev/null 2>&1 && return 0
    log "installing clickhouse-server (apt)"
    if [ "$(id -u)" != 0 ]; then
        log "not root: cannot install clickhouse-server"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq clickhouse-server >&2 || { apt-get update -qq >&2 && apt-get install -y -qq clickhouse-server >&2; }
}

install_chdb() {
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import chdb' 2>/dev/null; then
        return 0
    fi
    log "installing chdb into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
}

# The cluster both shard servers know: two shards of one replica each.
remote_servers() {
    cat <<XML
    <remote_servers>
        <seglab>
            <shard><replica><host>127.0.0.1</host><port>19001</port></replica></shard>
            <shard><replica><host>127.0.0.1</host><port>19002</port></replica></shard>
        </seglab>
    </remote_servers>
XML
}

start_server() {
    local name="$1" http="$2" tcp="$3" inter="$4"
    local dir="$run/$name"
    if answers "$http"; then
        return 0
    fi
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
    cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/server.log</log>
        <errorlog>$dir/server.err.log</errorlog>
        <size>10M</size>
        <count>2</count>
    </logger>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <interserver_http_port>$inter</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>64</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>16</max_concurrent_queries>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>67108864</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
$(remote_servers)
</yandex>
XML
    cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
    log "starting clickhouse-server $name on 127.0.0.1:$http"
    (cd "$dir" && exec nice -n 10 clickhouse-server --config-file="$dir/config.xml" >"$dir/stdout.log" 2>&1) &
    echo $! >"$run/$name.pid"
}

start_chdb() {
    if answers "$chdb_port"; then
        return 0
    fi
    log "starting the chDB shim on 127.0.0.1:$chdb_port"
    mkdir -p "$run/chdb"
    (exec "$venv/bin/python" "$here/chdb_shim.py" --port "$chdb_port" --data "$run/chdb" >"$run/chdb/shim.log" 2>&1) &
    echo $! >"$run/chdb.pid"
}

wait_for() {
    local port="$1" what="$2"
    for _ in $(seq 1 300); do
        answers "$port" && return 0
        sleep 0.1
    done
    log "$what did not answer on port $port"
    return 1
}

ok_server=0
if install_server; then
    for s in "${servers[@]}"; do
        # shellcheck disable=SC2086
        start_server $s
    done
    ok_server=1
fi
ok_chdb=0
if install_chdb; then
    start_chdb
    ok_chdb=1
fi

if [ "$ok_server" = 1 ]; then
    wait_for 18123 "clickhouse-server single" && echo "export SEGLAB_CLICKHOUSE_SINGLE=http://127.0.0.1:18123"
    wait_for 18124 "clickhouse-server shard1" && wait_for 18125 "clickhouse-server shard2" &&
        echo "export SEGLAB_CLICKHOUSE_CLUSTER=http://127.0.0.1:18124,http://127.0.0.1:18125"
fi
if [ "$ok_chdb" = 1 ]; then
    wait_for "$chdb_port" "chDB shim" && echo "export SEGLAB_CLICKHOUSE_CHDB=http://127.0.0.1:$chdb_port"
fi

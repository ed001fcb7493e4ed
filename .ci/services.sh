#!/usr/bin/env bash
# .ci/services.sh - prepare a Debian 12 host (no systemd as PID 1) for the
# autoglm-doctor integration tests. Idempotent: a rerun with everything up
# takes about a second.
#
#   1. installs the Debian packages the tests need (skipped if all installed)
#   2. /dev/kvm -> root:kvm 0660
#   3. starts dockerd (overlay2, falls back to vfs) unless the daemon answers
#   4. starts virtlogd + libvirtd unless qemu:///system answers
#   5. builds the local image autoglm-doctor-test/busybox:latest (docker import
#      of a busybox-static rootfs; never pulls)
#   6. builds the CI test guest (.ci/guest.sh: kernel + initramfs with qemu-ga, cached)
#   7. prints a one-line summary
#
# Daemons run in the background, detached, logging to /var/log/autoglm-ci/.
# Overrides: AUTOGLM_CI_LOG_DIR, AUTOGLM_CI_WAIT (seconds per daemon, 30),
# AUTOGLM_DOCKER_STORAGE_DRIVER (skip the overlay2 probe).
set -euo pipefail

LOG_DIR=${AUTOGLM_CI_LOG_DIR:-/var/log/autoglm-ci}
WAIT=${AUTOGLM_CI_WAIT:-30}
IMAGE=autoglm-doctor-test/busybox:latest
LIBVIRT_URI=qemu:///system
PKGS=(docker.io libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
      qemu-system-x86 qemu-utils iptables nftables busybox-static attr
      iproute2 bridge-utils kmod pciutils udev python3-venv python3-dev gcc)
PKGS+=(ovmf dpkg-dev xz-utils)  # vm.* live tests: OVMF for firmware='efi' domains; apt-get source for libvirt's test corpus
PKGS+=(tmux prometheus)  # console tests in a real terminal; promtool checks the metrics text
PKGS+=(openssh-server openssh-client prometheus systemd util-linux)  # fleet: sshd per simulated host, promtool, systemd-analyze, setpriv
PKGS+=(adb)  # device.adb checks: the real adb client and server
PKGS+=(openssh-server openssh-client)  # remote targets: sshd on loopback for the ssh:// tests
PKGS+=(acl)  # setfacl/getfacl: volume-access remediations run literally, ACLs read independently in live tests

export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

T0=$(date +%s%N)
elapsed() { local ns=$(( $(date +%s%N) - T0 )); printf '%d.%02d' $((ns / 1000000000)) $((ns / 10000000 % 100)); }
log() { echo "[services +$(elapsed)s] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
mkdir -p "$LOG_DIR"

# Start "$@" detached (own session, cwd /, stdin /dev/null, no inherited fds
# beyond 0-2) with output appended to $LOG_DIR/$name.log. Echoes the pid.
spawn() {
    local name=$1; shift
    echo "=== $(date -u +%FT%TZ) services.sh starting: $*" >>"$LOG_DIR/$name.log"
    (
        cd /
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec setsid "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1
    ) &
    echo $!
}

# pid from a pidfile if that process is alive and its comm is $2.
live_pid() {
    local pidfile=$1 comm=$2 pid
    [ -r "$pidfile" ] || return 1
    pid=$(tr -dc '0-9' <"$pidfile" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
    echo "$pid"
}

# wait_for SECONDS PID CHECK... : poll CHECK every 0.2 s; fail early if PID dies.
wait_for() {
    local secs=$1 pid=$2; shift 2
    local deadline=$(( $(date +%s) + secs ))
    while :; do
        "$@" && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

show_log() { log "--- tail of $LOG_DIR/$1.log ---"; tail -n "${2:-40}" "$LOG_DIR/$1.log" >&2 || true; }

# --------------------------------------------------------------------------
# 1. packages
# --------------------------------------------------------------------------
missing_pkgs() {
    local p st
    for p in "${PKGS[@]}"; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$st" = installed ] || echo "$p"
    done
}

install_pkgs() {
    local missing policy_added=0
    missing=$(missing_pkgs)
    if [ -z "$missing" ]; then log "packages: all ${#PKGS[@]} installed"; return 0; fi
    log "packages: missing: ${missing//$'\n'/ }"
    # Without systemd, maintainer scripts would start docker via /etc/init.d
    # with default options; keep them from starting anything while we install.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        policy_added=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    local i
    for i in 1 2 3 4 5; do   # update only takes the lists lock; retry if busy
        apt-get -q update && break
        [ "$i" -lt 5 ] || die "apt-get update failed"
        sleep 5
    done
    # DPkg::Lock::Timeout waits for a concurrent apt/dpkg instead of failing.
    local apt=(apt-get -q -y -o DPkg::Lock::Timeout=1200 -o Dpkg::Options::=--force-confdef
               -o Dpkg::Options::=--force-confold install)
    if ! "${apt[@]}" "${PKGS[@]}"; then
        log "apt-get install failed; trying dpkg --configure -a and once more"
        dpkg --configure -a || true
        "${apt[@]}" "${PKGS[@]}" || die "apt-get install failed"
    fi
    if [ "$policy_added" = 1 ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
    missing=$(missing_pkgs)
    [ -z "$missing" ] || die "still not installed: ${missing//$'\n'/ }"
}

# --------------------------------------------------------------------------
# 2. /dev/kvm
# --------------------------------------------------------------------------
fix_kvm() {
    if [ -e /dev/kvm ]; then
        getent group kvm >/dev/null || groupadd -r kvm
        if ! { chgrp kvm /dev/kvm && chmod 0660 /dev/kvm; }; then log "WARN: could not chgrp/chmod /dev/kvm"; fi
    fi
}

# cgroups: normally mounted by the init; mount them if nothing is there.
ensure_cgroups() {
    if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/cpu ] \
       && [ ! -d /sys/fs/cgroup/memory ] && command -v cgroupfs-mount >/dev/null; then
        log "cgroups not mounted; running cgroupfs-mount"
        cgroupfs-mount || log "WARN: cgroupfs-mount failed"
    fi
}

# --------------------------------------------------------------------------
# 3. dockerd
# --------------------------------------------------------------------------
docker_ok() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Echo "overlay2" if an overlay mount works on /var/lib/docker's filesystem.
probe_storage_driver() {
    if [ -n "${AUTOGLM_DOCKER_STORAGE_DRIVER:-}" ]; then echo "$AUTOGLM_DOCKER_STORAGE_DRIVER"; return; fi
    mkdir -p /var/lib/docker
    local d drv=vfs
    d=$(mktemp -d /var/lib/docker/.overlay-probe.XXXXXX)
    mkdir -p "$d/l" "$d/u" "$d/w" "$d/m"
    if mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null; then
        umount "$d/m" && drv=overlay2
    fi
    rm -rf "$d"
    echo "$drv"
}

# Prefer the alternative currently selected (iptables-nft on Debian 12); switch
# to iptables-legacy only if the current one cannot list the nat table.
# Echo extra dockerd flags ("--iptables=false" if neither works).
choose_iptables() {
    if iptables -w -t nat -S >/dev/null 2>&1 && iptables -w -t filter -S >/dev/null 2>&1; then
        return 0
    fi
    if command -v iptables-legacy >/dev/null && iptables-legacy -w -t nat -S >/dev/null 2>&1; then
        log "iptables: current alternative broken, switching to iptables-legacy"
        update-alternatives --set iptables /usr/sbin/iptables-legacy >&2
        update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >&2 || true
        return 0
    fi
    if command -v iptables-nft >/dev/null && iptables-nft -t nat -S >/dev/null 2>&1; then
        log "iptables: switching to iptables-nft"
        update-alternatives --set iptables /usr/sbin/iptables-nft >&2
        update-alternatives --set ip6tables /usr/sbin/ip6tables-nft >&2 || true
        return 0
    fi
    log "WARN: no working iptables; starting dockerd with --iptables=false"
    echo "--iptables=false"
}

start_dockerd_with() {
    local drv=$1; shift
    log "docker: starting dockerd --storage-driver=$drv $*"
    DOCKERD_PID=$(spawn dockerd dockerd --storage-driver="$drv" "$@")
    wait_for "$WAIT" "$DOCKERD_PID" docker_ok
}

start_docker() {
    if docker_ok; then log "docker: daemon already answering"; return 0; fi
    local pid
    if pid=$(live_pid /var/run/docker.pid dockerd); then
        log "docker: dockerd pid $pid running but not answering yet; waiting"
        wait_for "$WAIT" "$pid" docker_ok && return 0
        show_log dockerd; die "dockerd (pid $pid) did not answer within ${WAIT}s"
    fi
    ensure_cgroups
    local extra drv
    extra=$(choose_iptables)
    drv=$(probe_storage_driver)
    # shellcheck disable=SC2086
    if start_dockerd_with "$drv" $extra; then return 0; fi
    if [ "$drv" = overlay2 ]; then
        log "docker: dockerd with overlay2 did not come up; falling back to vfs"
        show_log dockerd 20
        if kill "$DOCKERD_PID" 2>/dev/null; then
            wait_for 15 "" sh -c "! kill -0 $DOCKERD_PID 2>/dev/null" || true
        fi
        # shellcheck disable=SC2086
        start_dockerd_with vfs $extra && return 0
    fi
    show_log dockerd
    die "dockerd did not answer within ${WAIT}s"
}

# --------------------------------------------------------------------------
# 4. libvirt (Debian 12 / libvirt 9.0 ships the monolithic libvirtd; the
#    modular virtqemud is used only if libvirtd is absent)
# --------------------------------------------------------------------------
virsh_ok() { timeout 5 virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1; }

start_libvirt() {
    if virsh_ok; then log "libvirt: $LIBVIRT_URI already answering"; return 0; fi
    mkdir -p /run/libvirt /var/log/libvirt/qemu
    if ! live_pid /run/virtlogd.pid virtlogd >/dev/null; then
        log "libvirt: starting virtlogd"
        spawn virtlogd virtlogd >/dev/null
    fi
    if grep -Eq '^[[:space:]]*lock_manager[[:space:]]*=[[:space:]]*"lockd"' /etc/libvirt/qemu.conf 2>/dev/null \
       && ! live_pid /run/virtlockd.pid virtlockd >/dev/null; then
        log "libvirt: starting virtlockd (lock_manager=lockd)"
        spawn virtlockd virtlockd >/dev/null
    fi
    local daemon=libvirtd pid pin=() cpus=""
    command -v libvirtd >/dev/null || daemon=virtqemud
    # libvirt keeps the host CPUID in its QEMU capabilities cache and re-probes
    # every QEMU binary (~8 s) when it differs at startup. CPUID leaf 0x1f
    # reports the x2APIC id of the CPU the daemon happens to run on, so start
    # it pinned to the first online CPU (stable cache), then unpin it.
    if command -v taskset >/dev/null && [ -r /sys/devices/system/cpu/online ]; then
        cpus=$(cat /sys/devices/system/cpu/online)
        pin=(taskset -c "${cpus%%[-,]*}")
    fi
    if pid=$(live_pid "/run/$daemon.pid" "$daemon"); then
        log "libvirt: $daemon pid $pid running but not answering yet; waiting"
    else
        log "libvirt: starting $daemon"
        pid=$(spawn "$daemon" "${pin[@]}" "$daemon")
    fi
    if wait_for "$WAIT" "$pid" virsh_ok; then
        if [ -n "$cpus" ]; then taskset -a -p -c "$cpus" "$pid" >/dev/null 2>&1 || true; fi
        return 0
    fi
    show_log "$daemon"; show_log virtlogd 10
    die "$daemon did not answer on $LIBVIRT_URI within ${WAIT}s"
}

check_libvirt_speed() {
    local t ms
    t=$(date +%s%N)
    timeout 10 virsh -c "$LIBVIRT_URI" capabilities >/dev/null || die "virsh capabilities failed"
    ms=$(( ($(date +%s%N) - t) / 1000000 ))
    [ "$ms" -lt 1000 ] || log "WARN: virsh capabilities took ${ms} ms (>1 s; /dev/kvm permissions?)"
    CAPS_MS=$ms
}

# --------------------------------------------------------------------------
# 5. busybox test image
# --------------------------------------------------------------------------
build_image() {
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then log "image: $IMAGE present"; return 0; fi
    local bb=/bin/busybox root a
    [ -x "$bb" ] || die "$bb missing (busybox-static)"
    root=$(mktemp -d /tmp/autoglm-busybox-rootfs.XXXXXX)
    mkdir -p "$root"/{bin,etc,root,home/app,tmp,proc,sys,dev,run,var/tmp,var/www,usr}
    cp "$bb" "$root/bin/busybox"
    for a in $("$bb" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
    done
    ln -s bin "$root/sbin"; ln -s ../bin "$root/usr/bin"; ln -s ../bin "$root/usr/sbin"
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
app:x:1000:
nogroup:x:65534:
EOF
    echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
    chmod 1777 "$root/tmp" "$root/var/tmp"
    chmod 0700 "$root/root"
    chown 1000:1000 "$root/home/app"
    log "image: importing $IMAGE ($(find "$root/bin" -mindepth 1 | wc -l) entries in /bin)"
    tar -C "$root" --numeric-owner -cf - . | docker import \
        -c 'CMD ["/bin/sh"]' \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'LABEL org.autoglm-doctor.ci=busybox-static' \
        -m "autoglm-doctor CI busybox-static rootfs" - "$IMAGE" >/dev/null
    rm -rf "$root"
    docker run --rm "$IMAGE" true || die "image $IMAGE imported but 'docker run ... true' failed"
}

# --------------------------------------------------------------------------
install_pkgs
fix_kvm
start_docker
start_libvirt
check_libvirt_speed
build_image
bash "$(dirname "${BASH_SOURCE[0]}")/libvirt-corpus.sh" >/dev/null || log "WARN: libvirt's test corpus not cached"  # vm.* corpus tests
bash "$(dirname "${BASH_SOURCE[0]}")/guest.sh" || die "building the CI test guest failed"  # remote targets: .ci/guest.sh

DINFO=$(docker info --format '{{.ServerVersion}} {{.Driver}} {{.CgroupDriver}}/v{{.CgroupVersion}}' 2>/dev/null || echo '?')
LV=$(virsh -c "$LIBVIRT_URI" version 2>/dev/null | sed -n 's/^Running hypervisor: //p;s/^Using library: //p' | paste -sd, - || true)
KVM=absent; [ -e /dev/kvm ] && KVM=$(stat -c '%G:%a' /dev/kvm)
echo "services.sh OK in $(elapsed)s: docker $DINFO; $LV; caps ${CAPS_MS}ms; /dev/kvm $KVM; image $IMAGE; logs $LOG_DIR"

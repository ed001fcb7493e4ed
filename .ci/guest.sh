#!/usr/bin/env bash
# .ci/guest.sh - build the CI test guest once per machine (called by services.sh).
#
# A TCG guest needs no disk: libvirt boots Debian's cloud kernel directly with
# an initramfs that carries a busybox userland and qemu-guest-agent (binary and
# its shared libraries, all unpacked from the Debian packages with dpkg-deb;
# nothing is installed on this machine). The guest's init mounts /proc, /sys and
# /dev, loads the virtio modules in modules.dep order (virtio_ring first), finds
# the virtio-serial port named org.qemu.guest_agent.0 under
# /sys/class/virtio-ports and keeps qemu-ga running on it.
#
# Output in $GUEST_DIR (default /var/cache/autoglm-ci/guest): vmlinuz,
# initrd.img, kernel-release, stamp. A rerun with the same package versions
# returns at once. tests/guest.py boots it (one transient domain per test run).
set -euo pipefail

GUEST_DIR=${AUTOGLM_CI_GUEST_DIR:-/var/cache/autoglm-ci/guest}
LIBS_OF_QGA=(libc6 libgcc-s1 libglib2.0-0 libnuma1 libudev1 liburing2 libpcre2-8-0
             libffi8 libmount1 libblkid1 libselinux1 zlib1g)
log() { echo "[guest] $*" >&2; }

# fast path: built after this script and after the package lists last changed
if [ -s "$GUEST_DIR/stamp" ] && [ -s "$GUEST_DIR/vmlinuz" ] && [ -s "$GUEST_DIR/initrd.img" ] \
   && [ "$GUEST_DIR/stamp" -nt "$0" ] && [ -d /var/lib/apt/lists ] \
   && [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -newer "$GUEST_DIR/stamp" | head -1)" ]; then
    log "guest image present ($GUEST_DIR)"
    exit 0
fi
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
[ -n "$kpkg" ] || { apt-get -q update >&2; kpkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1); }
[ -n "$kpkg" ] || { log "ERROR: no linux-image-cloud-amd64 in the package lists"; exit 1; }
want="$kpkg=$(apt-cache policy "$kpkg" | sed -n 's/^ *Candidate: //p') qga=$(apt-cache policy qemu-guest-agent | sed -n 's/^ *Candidate: //p') busybox=$(dpkg-query -W -f='${Version}' busybox-static) init=$(sha256sum "$0" | cut -c1-16)"
if [ -f "$GUEST_DIR/stamp" ] && [ "$(cat "$GUEST_DIR/stamp")" = "$want" ] \
   && [ -s "$GUEST_DIR/vmlinuz" ] && [ -s "$GUEST_DIR/initrd.img" ]; then
    log "guest image present ($GUEST_DIR)"
    exit 0
fi

work=$(mktemp -d /tmp/autoglm-ci-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
chmod 0755 "$work"   # apt's _apt user downloads into it
log "downloading $kpkg qemu-guest-agent ${LIBS_OF_QGA[*]}"
apt-get -q download "$kpkg" qemu-guest-agent "${LIBS_OF_QGA[@]}" >&2
mkdir -p kernel pkgs root
dpkg-deb -x ./"$kpkg"_*.deb kernel
for deb in ./*.deb; do case $deb in ./"$kpkg"_*) ;; *) dpkg-deb -x "$deb" pkgs ;; esac; done
kver=$(ls kernel/lib/modules)
depmod -b kernel "$kver"

# busybox userland
mkdir -p root/{bin,sbin,etc,proc,sys,dev,run,tmp,root,boot,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib/modules/"$kver"}
ln -s lib root/lib64
mkdir -p root/var && ln -s ../run root/var/run
cp /bin/busybox root/bin/busybox
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "root/bin/$a"; done

# qemu-ga and the shared libraries it loads, resolved by the packages' own ld.so
cp pkgs/usr/sbin/qemu-ga root/usr/sbin/qemu-ga
libpath=pkgs/lib/x86_64-linux-gnu:pkgs/usr/lib/x86_64-linux-gnu
ldso=pkgs/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
for lib in $("$ldso" --library-path "$libpath" --list pkgs/usr/sbin/qemu-ga | awk '$2 == "=>" {print $3}'); do
    case $lib in pkgs/*) ;; *) log "ERROR: $lib was not resolved from the packages"; exit 1 ;; esac
    cp -L "$lib" root/lib/x86_64-linux-gnu/
done
cp -L "$ldso" root/lib/x86_64-linux-gnu/
ln -sf x86_64-linux-gnu/ld-linux-x86-64.so.2 root/lib/ld-linux-x86-64.so.2

# virtio modules in modules.dep order (modprobe --show-depends prints insmod lines, deps first)
: >root/etc/modules-load
for m in virtio_pci virtio_console; do
    modprobe -d kernel -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
    rel=${ko#*/lib/modules/"$kver"/}
    mkdir -p "root/lib/modules/$kver/$(dirname "$rel")"
    cp "$ko" "root/lib/modules/$kver/$rel"
    echo "$rel" >>root/etc/modules-load
done
cp kernel/lib/modules/"$kver"/modules.{dep,builtin,order} root/lib/modules/"$kver"/
cp kernel/boot/config-"$kver" root/boot/   # something real for the kernel-config checks

cat >root/etc/os-release <<EOF
PRETTY_NAME="autoglm-doctor CI guest (busybox, Debian kernel $kver)"
NAME="autoglm-doctor CI guest"
ID=autoglm-ci-guest
EOF
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >root/etc/passwd
printf 'root:x:0:\nkvm:x:104:\nnogroup:x:65534:\n' >root/etc/group
echo autoglm-ci-guest >root/etc/hostname

cat >root/init <<'EOF'
#!/bin/sh
# PID 1 of the CI guest: mount the kernel's filesystems, load virtio, keep qemu-ga on its port.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
hostname -F /etc/hostname
kver=$(uname -r)
while read -r ko; do insmod "/lib/modules/$kver/$ko" || echo "init: insmod $ko failed"; done </etc/modules-load
port=""
for i in $(seq 1 100); do
    for p in /sys/class/virtio-ports/*; do
        [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/${p##*/}
    done
    [ -n "$port" ] && [ -c "$port" ] && break
    sleep 0.1
done
echo "init: guest agent port ${port:-missing}"
# autoglm.agent=garbage on the kernel command line: a broken agent for the tests of bad replies.
# It answers libvirt's guest-sync handshake correctly, then nonsense to every command.
garbage_agent() {
    exec 3<>"$port" || return
    while read -r line <&3; do
        case $line in
        *guest-sync*) printf '{"return": %s}\n' "$(echo "$line" | sed -n 's/.*"id": *\([0-9]*\).*/\1/p')" >&3 ;;
        *guest-file-open*) echo '{"return": "not-a-handle"}' >&3 ;;
        *guest-exec-status*) echo '{"return": {"exited": "perhaps"}}' >&3 ;;
        *guest-exec*) echo '{"return": {"pid": 7}}' >&3 ;;
        *guest-ping*) echo '{"return": {}}' >&3 ;;
        *) echo '{"return": [1, 2, 3], "trailing": "nonsense"' >&3 ;;
        esac
    done
}
if grep -q 'autoglm.agent=garbage' /proc/cmdline; then
    echo "init: garbage agent"
    while :; do (garbage_agent) 3<>/dev/null; sleep 0.2; done   # a subshell: a failed open must not end PID 1
fi
while :; do
    if [ -n "$port" ]; then
        qemu-ga -m virtio-serial -p "$port" -t /run &
        echo $! >/run/qemu-ga.pid   # tests freeze the agent by this pid
        wait $!
        echo "init: qemu-ga exited ($?), restarting"
    fi
    sleep 1
done
EOF
chmod 0755 root/init

(cd root && find . | /bin/busybox cpio -o -H newc 2>/dev/null) | gzip -6 >initrd.img
mkdir -p "$GUEST_DIR"
install -m 0644 kernel/boot/vmlinuz-"$kver" "$GUEST_DIR/vmlinuz.new"
install -m 0644 initrd.img "$GUEST_DIR/initrd.img.new"
mv -f "$GUEST_DIR/vmlinuz.new" "$GUEST_DIR/vmlinuz"
mv -f "$GUEST_DIR/initrd.img.new" "$GUEST_DIR/initrd.img"
echo "$kver" >"$GUEST_DIR/kernel-release"
echo "$want" >"$GUEST_DIR/stamp"
log "built guest: kernel $kver, initrd $(du -h "$GUEST_DIR/initrd.img" | cut -f1) in $GUEST_DIR"

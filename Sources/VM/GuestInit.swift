// The guest's /init (busybox sh): mounts the host root and the job share, runs the job, powers off.
import Foundation

/// The init script baked into each kernel's initramfs. Everything that changes per run
/// (the command, the binary) is in the job share's `guest.sh`, so one initramfs serves every run.
public enum GuestInit {
    /// 9p tags of the shares qemu exports (QEMULaunch uses the same names).
    static let rootTag = "hostroot", jobTag = "bpfsjob", modulesTag = "kmods"
    /// Where the job share appears inside the guest's root.
    static let jobMount = "/run/bpfstress-job"
    /// Host paths the guest does not see: its own tmpfs is mounted there.
    static let hiddenPrefixes = ["/run/", "/proc/", "/sys/", "/dev/"]

    /// Throws when `path` (the guest binary, a campaign file) lies where the guest has its own tmpfs.
    public static func requireVisible(_ path: String, what: String) throws {
        if hiddenPrefixes.contains(where: { path.hasPrefix($0) }) {
            throw VMError.usage("\(what) \(path) is not visible in the guest (it mounts its own /run): put it elsewhere")
        }
    }

    /// Console markers the host looks for.
    static let bootMarker = "bpfstress-guest: init", exitMarker = "bpfstress-guest: exit "

    static let script = #"""
#!/bin/busybox sh
# bpfstress guest init. proc first: until then /proc is the host's procfs seen through 9p.
/bin/busybox mount -t proc proc /proc
export PATH=/bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
read -r up _ < /proc/uptime; echo "bpfstress-guest: init at $up s"
fail() { echo "bpfstress-guest: init failed: $*"; echo "bpfstress-guest: exit 125"; poweroff -f; sleep 5; echo o > /proc/sysrq-trigger; }
while read -r m; do
  [ -n "$m" ] || continue
  insmod "/modules/$m" 2>/dev/null || grep -q "^${m%.ko} " /proc/modules || echo "bpfstress-guest: insmod $m failed"
done < /modules/order
O=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /newroot
mount -t 9p -o $O,ro,cache=loose hostroot /newroot || fail "mount host root"
mount -t tmpfs -o mode=755 tmpfs /newroot/run || fail "tmpfs /run"
mkdir -p /newroot/run/bpfstress-job
mount -t 9p -o $O bpfsjob /newroot/run/bpfstress-job || fail "mount job share"
mkdir -p /ovl && mount -t tmpfs tmpfs /ovl
for d in etc var root usr tmp; do
  mkdir -p /ovl/$d/u /ovl/$d/w
  mount -t overlay overlay -o lowerdir=/newroot/$d,upperdir=/ovl/$d/u,workdir=/ovl/$d/w /newroot/$d || fail "overlay /$d"
done
if grep -q "kmods" /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag 2>/dev/null; then
  mkdir -p /newroot/usr/lib/modules
  mount -t 9p -o $O,ro kmods /newroot/usr/lib/modules || echo "bpfstress-guest: module share not mounted"
fi
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev || mount --bind /dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup
mount -t bpf bpf /newroot/sys/fs/bpf
mount -t debugfs debugfs /newroot/sys/kernel/debug
mount -t tracefs tracefs /newroot/sys/kernel/tracing
ip link set lo up
read -r up _ < /proc/uptime; echo "bpfstress-guest: mounts done at $up s"
echo 1 > /proc/sys/kernel/sysrq
echo 7 > /proc/sys/kernel/printk
[ -f /newroot/run/bpfstress-job/guest.sh ] || fail "no guest.sh in the job share"
chroot /newroot /bin/sh /run/bpfstress-job/guest.sh
rc=$?
sync
echo "bpfstress-guest: exit $rc"
poweroff -f
sleep 5
echo o > /proc/sysrq-trigger
"""#
}

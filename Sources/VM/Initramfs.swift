// Builds (once per kernel, then cached) the guest initramfs: busybox-static, the kernel's 9p stack, /init.
import Capture
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The initramfs for one kernel, cached under `~/.cache/bpfstress/initramfs/`.
public enum Initramfs {
    /// Modules the init needs, in the order their dependencies allow (modprobe --show-depends).
    static let needed = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]

    public static var cacheRoot: String {
        if let c = ProcessInfo.processInfo.environment["BPFSTRESS_CACHE"], !c.isEmpty { return c + "/initramfs" }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
        return home + "/.cache/bpfstress/initramfs"
    }

    /// The cached cpio.gz for `kernel`, built when missing. The cache key covers the release,
    /// the module tree's path, the init script and the build script, so a changed script rebuilds.
    public static func path(for kernel: KernelImage) throws -> String {
        let key = fnv1a(kernel.release + "\0" + (kernel.modules ?? "") + "\0" + GuestInit.script + "\0" + buildScript)
        let out = cacheRoot + "/" + kernel.release + "-" + String(key, radix: 16) + ".cpio.gz"
        if FileManager.default.fileExists(atPath: out) { return out }
        try build(kernel, to: out)
        return out
    }

    /// Runs the build script: resolves module dependencies, copies busybox and the (decompressed)
    /// modules, writes /init, packs with cpio | gzip into a temp name, renames it into place.
    static func build(_ kernel: KernelImage, to out: String) throws {
        for tool in ["cpio", "gzip", "modprobe", "depmod", "xz"] where which(tool) == nil {
            throw VMError.environment("\(tool) not found (scripts/bootstrap installs cpio kmod xz-utils)")
        }
        guard let busybox = ["/bin/busybox", "/usr/bin/busybox"].first(where: { isStaticELF($0) }) else {
            throw VMError.environment("no static busybox (apt-get install busybox-static)")
        }
        try FileManager.default.createDirectory(atPath: cacheRoot, withIntermediateDirectories: true)
        let work = cacheRoot + "/.build-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createDirectory(atPath: work + "/root/modules", withIntermediateDirectories: true)
        try GuestInit.script.write(toFile: work + "/root/init", atomically: false, encoding: .utf8)
        chmod(work + "/root/init", 0o755)
        let r = try Run.capture(["/bin/bash", "-c", buildScript, "build-initramfs", work, busybox,
                                 kernel.modules ?? "", kernel.release, out] + needed, timeout: 120)
        guard r.status == 0 else {
            throw VMError.environment("building the initramfs for \(kernel.release) failed: \(r.output.suffix(400))")
        }
    }

    /// $1 work dir, $2 busybox, $3 module dir (may be empty: all built in), $4 release, $5 output, then modules.
    static let buildScript = #"""
set -euo pipefail
work="$1"; busybox="$2"; mdir="$3"; rel="$4"; out="$5"; shift 5
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,newroot,tmp,run}
cp "$busybox" "$root/bin/busybox"
# The applet links are made here, not by `busybox --install` in the guest: under TCG every
# process the init runs costs time before the first op.
for a in $("$root/bin/busybox" --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
: > "$root/modules/order"
if [ -n "$mdir" ]; then
  base="$(cd "$mdir/../../.." && pwd)"
  # Unpacked trees (dpkg -x) have no modules.dep until depmod runs (scripts/get-kernel runs it).
  [ -f "$mdir/modules.dep" ] || depmod -b "$base" "$rel" || { echo "no modules.dep in $mdir and depmod failed"; exit 1; }
  for m in "$@"; do
    deps="$(modprobe -d "$base" -S "$rel" --show-depends "$m" 2>&1)" || { echo "modprobe $m: $deps"; exit 1; }
    while read -r kind path _; do
      [ "$kind" = insmod ] || continue
      name="$(basename "$path")"; name="${name%.xz}"; name="${name%.zst}"; name="${name%.gz}"
      grep -qx "$name" "$root/modules/order" && continue
      case "$path" in
        *.xz) xz -dc "$path" > "$root/modules/$name" ;;
        *.zst) zstd -dc "$path" > "$root/modules/$name" ;;
        *.gz) gzip -dc "$path" > "$root/modules/$name" ;;
        *) cp "$path" "$root/modules/$name" ;;
      esac
      echo "$name" >> "$root/modules/order"
    done <<< "$deps"
  done
fi
mkdir -p "$(dirname "$out")"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -6) > "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
"""#

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }

    static func isStaticELF(_ path: String) -> Bool {
        guard let d = FileManager.default.contents(atPath: path), d.count > 64, d.starts(with: [0x7f, 0x45, 0x4c, 0x46]) else { return false }
        // A static executable has no PT_INTERP program header.
        return !String(decoding: d.prefix(4096), as: UTF8.self).contains("/lib64/ld-linux")
    }
}

/// `which`: the first executable `name` on PATH (plus /usr/sbin and /sbin).
func which(_ name: String) -> String? {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    for dir in path.split(separator: ":") where access(dir + "/" + name, X_OK) == 0 { return dir + "/" + name }
    return nil
}

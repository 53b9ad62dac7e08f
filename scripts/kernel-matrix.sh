#!/usr/bin/env bash
# The core live tests on other kernels: boots each kernel of APITOP_KERNELS (Debian packages;
# default linux-image-amd64, Debian 12's stock 6.1) in QEMU/KVM with this machine's root
# filesystem shared read-only over 9p, and runs the already-built test binaries inside it.
#
# The kernel package is downloaded (apt-get download) and unpacked (dpkg-deb -x) under
# $APITOP_KERNEL_CACHE, never installed. The guest boots a tiny initramfs (busybox and the 9p and
# virtio modules of that kernel) that mounts the host's / read-only, mounts /proc, /sys, tracefs,
# bpffs, /dev and tmpfs on /tmp, /run and /var/tmp, brings up loopback and switches to it.
# A CPU stuck in the guest's kernel panics it at once (softlockup_panic): the trace is printed,
# the lockup counted, and the guest booted once more (see the comment at `boot`'s call).
#
# Knobs: KERNEL_MATRIX=0 skips; APITOP_KERNELS="pkg ..." (a metapackage or a concrete
# linux-image-X.Y.Z-N-flavour); KERNEL_MATRIX_TESTS="name ..." (exact test names);
# KERNEL_MATRIX_TIMEOUT (seconds per guest, default 600); KERNEL_MATRIX_ACCEL=auto|kvm|tcg;
# KERNEL_MATRIX_PROFILE=debug|release (the test binaries' build); APITOP_KERNEL_CACHE.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
say() { printf 'kernel-matrix: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

if [[ ${KERNEL_MATRIX:-1} == 0 ]]; then
  say "skipped (KERNEL_MATRIX=0)"
  exit 0
fi
if ((EUID != 0)); then
  if [[ ${APITOP_REQUIRE_EBPF:-} == 1 ]]; then die "needs root, and APITOP_REQUIRE_EBPF=1 forbids skipping"; fi
  say "skipped: needs root (the guest runs the live eBPF tests as root, and apt-get installs QEMU)"
  exit 0
fi
# KVM with hardware virtualization (kvm_intel, kvm_amd). Elsewhere, e.g. under PVM (kvm_pvm,
# software nested virtualization that runs only PVM-aware guest kernels at speed: a stock kernel
# does not get through its decompressor in minutes), QEMU emulates the guest (TCG), slower.
accel=${KERNEL_MATRIX_ACCEL:-auto}
if [[ $accel == auto ]]; then
  if [[ -w /dev/kvm && (-d /sys/module/kvm_intel || -d /sys/module/kvm_amd) ]]; then accel=kvm; else accel=tcg; fi
fi
case $accel in
  kvm) qemu_accel=(-accel kvm -cpu "host,-arch-capabilities") ;;
  # One host thread runs both vCPUs in turn. With a thread per vCPU (thread=multi, QEMU 7.2) the
  # 6.1 guest livelocks when its kernel patches its own code while the other vCPU runs it: a
  # static key flipped by attaching a syscall tracepoint (text_poke_bp: int3, IPI, new bytes)
  # leaves that vCPU executing a stale translation of the int3, which the kernel's int3 handler,
  # seeing the byte gone, sends back to retry forever (soft lockup at syscall_trace_enter+0xe9,
  # saved RIP one byte further, memory holding `eb`), while the patching CPU waits for its IPI.
  # Toggling raw_syscalls/sys_enter through tracefs 400 times beside two syscall loops hung the
  # guest within 25 s with thread=multi, and never with thread=single; no apitop involved.
  tcg) qemu_accel=(-accel "tcg,thread=single" -cpu max) ;;
  *) die "KERNEL_MATRIX_ACCEL=$accel: auto, kvm or tcg" ;;
esac
# The debug test binaries `cargo test` built (no second build): their dependencies are optimised
# (Cargo.toml's profile.dev.package."*"), which brought a debug apitop's start-up in the emulated
# guest from half a minute, past the tests' own deadlines, to a few seconds.
profile=${KERNEL_MATRIX_PROFILE:-debug}
case $profile in
  debug) cargo_profile=() ;;
  release) cargo_profile=(--release) ;;
  *) die "KERNEL_MATRIX_PROFILE=$profile: debug or release" ;;
esac

read -ra kernels <<<"${APITOP_KERNELS:-linux-image-amd64}"
cache=${APITOP_KERNEL_CACHE:-/var/cache/apitop-kernels}
timeout_s=${KERNEL_MATRIX_TIMEOUT:-600}
# The core of the live suite: TLS (curl, python), plain HTTP, `--` commands with forking children,
# `-p` sessions that end when their targets exit, `-n` names matched later, SIGINT draining.
tests=(
  curl_get_json python_urllib sigint_drains_what_was_captured
  a_target_exiting_mid_capture_leaves_the_others_running name_matches_processes_started_later
  a_command_under_sudo_runs_as_the_invoking_user_and_keeps_stdout_clean the_name_follows_exec
  curl_plain_get_json python_urllib_plain curl_plain_post_json_and_large_response
)
if [[ -n ${KERNEL_MATRIX_TESTS:-} ]]; then read -ra tests <<<"$KERNEL_MATRIX_TESTS"; fi

# --- Host prerequisites (idempotent, quiet when present) ---
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v busybox >/dev/null || need+=(busybox-static)
if ((${#need[@]})); then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- The test binaries, built on the host ---
say "building the test binaries ($profile)"
build_log=$(mktemp)
mapfile -t bins < <(cargo test "${cargo_profile[@]}" --no-run --message-format=json -p apitop --test capture_live --test plain_live \
  2>"$build_log" | grep -oE '"executable":"[^"]*/deps/(capture_live|plain_live)-[^"]*"' | sed 's/^"executable":"//; s/"$//')
((${#bins[@]} == 2)) || { cat "$build_log" >&2; die "expected two test binaries, got: ${bins[*]:-none}"; }
rm -f "$build_log"

# --- A kernel: resolved to a concrete package, downloaded and unpacked once into the cache ---
kernel_tree() { # PACKAGE -> prints the unpacked tree
  local pkg=$1 ver dir tmp
  if [[ $pkg != linux-image-[0-9]* ]]; then # a metapackage: its linux-image-X.Y dependency
    local dep
    dep=$(apt-cache depends "$pkg" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)
    if [[ -z $dep ]]; then
      apt-get update -qq
      dep=$(apt-cache depends "$pkg" | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)
    fi
    [[ -n $dep ]] || die "$pkg: no linux-image-X.Y dependency"
    pkg=$dep
  fi
  ver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
  [[ -n $ver && $ver != '(none)' ]] || die "$pkg: no candidate version (apt-get update?)"
  dir=$cache/${pkg}_$ver
  if [[ ! -e $dir/.complete ]]; then
    say "downloading $pkg $ver"
    rm -rf "$dir"
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.download.XXXXXX")
    chown _apt "$tmp" 2>/dev/null || true
    (cd "$tmp" && apt-get download -qq "$pkg=$ver" >/dev/null) || die "apt-get download $pkg=$ver"
    dpkg-deb -x "$tmp"/*.deb "$tmp/tree"
    local kver
    kver=$(ls "$tmp/tree/lib/modules")
    busybox depmod -b "$tmp/tree" "$kver"
    mv "$tmp/tree" "$dir"
    rm -rf "$tmp"
    touch "$dir/.complete"
    # Older versions of the same package are not needed any more.
    for old in "$cache/${pkg}"_*; do [[ $old == "$dir" ]] || rm -rf "$old"; done
  fi
  printf '%s\n' "$dir"
}

# --- The initramfs: busybox, the modules that mount the host's root, and /init ---
make_initramfs() { # TREE OUT
  local tree=$1 out=$2 kver stage m line
  kver=$(ls "$tree/lib/modules")
  stage=$(mktemp -d)
  mkdir -p "$stage"/{bin,dev,proc,sys,newroot,lib/modules/"$kver"}
  cp "$(command -v busybox)" "$stage/bin/busybox"
  if ldd "$stage/bin/busybox" >/dev/null 2>&1; then # a dynamic busybox: its libraries too
    for lib in $(ldd "$stage/bin/busybox" | grep -o '/[^ ]*'); do
      mkdir -p "$stage$(dirname "$lib")"
      cp -L "$lib" "$stage$lib"
    done
  fi
  for a in sh mount umount mkdir insmod modprobe ip switch_root cat echo sleep; do ln -s busybox "$stage/bin/$a"; done
  mknod -m 600 "$stage/dev/console" c 5 1
  cp "$tree/lib/modules/$kver/modules.dep" "$stage/lib/modules/$kver/"
  for m in virtio_pci 9pnet_virtio 9p; do
    line=$(grep -E "/$m\.ko(\.xz)?:" "$tree/lib/modules/$kver/modules.dep") || die "no module $m in $tree"
    for f in ${line/:/}; do
      mkdir -p "$stage/lib/modules/$kver/$(dirname "$f")"
      cp "$tree/lib/modules/$kver/$f" "$stage/lib/modules/$kver/$f"
    done
  done
  if find "$stage/lib/modules" -name '*.ko.xz' | grep -q .; then # busybox modprobe: plain .ko
    find "$stage/lib/modules" -name '*.ko.xz' -exec busybox unxz {} +
    sed -i 's/\.ko\.xz/.ko/g' "$stage/lib/modules/$kver/modules.dep"
  fi
  cat >"$stage/init" <<'EOF'
#!/bin/sh
export PATH=/bin
fail() { echo "kernel-matrix guest: $*"; echo o >/proc/sysrq-trigger; sleep 10; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_pci 9pnet_virtio 9p; do modprobe "$m" || fail "modprobe $m"; done
o=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "ro,cache=loose,$o" hostroot /newroot || fail "mounting the host's root"
# The repository and the test binaries, where a tmpfs mounted below would hide them (a clone
# under /tmp): held by a bind mount now, put back over the tmpfs after. `hidden` numbers them.
hidden() {
  n=0
  while read -r p; do
    case "$p" in /tmp/* | /run/* | /var/tmp/* | /dev/shm/*) n=$((n + 1)) && echo "$n $p" ;; esac
  done </keep-paths
}
hidden | while read -r n p; do
  mkdir -p "/keep/$n" && mount -o bind "/newroot$p" "/keep/$n" || fail "holding $p"
done
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t tracefs tracefs /newroot/sys/kernel/tracing
mount -t debugfs debugfs /newroot/sys/kernel/debug
mount -t bpf bpf /newroot/sys/fs/bpf
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
for d in /dev/shm /tmp /run /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "/newroot$d"; done
hidden | while read -r n p; do
  mkdir -p "/newroot$p" && mount -o bind "/keep/$n" "/newroot$p" || fail "putting back $p"
done
mkdir /newroot/run/kernel-matrix
mount -t 9p -o "$o" out /newroot/run/kernel-matrix || fail "mounting the output directory"
ip link set lo up
umount /proc /sys /dev
exec switch_root /newroot /bin/bash /run/kernel-matrix/guest.sh
EOF
  chmod +x "$stage/init"
  { pwd; for b in "${bins[@]}"; do dirname "$b"; done; } | sort -u >"$stage/keep-paths"
  (cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$out"
  rm -rf "$stage"
}

# --- One guest run ---
# Boots $vmlinuz with $run's initramfs and guest.sh; prints the per-test table and sets
# `outcome`: ok, lockup (the guest's watchdog caught a CPU stuck in the kernel: with
# softlockup_panic the guest panics and stops at once, its trace in the console log) or failed.
boot() {
  say "booting $(basename "$vmlinuz") with $accel (log: $run/console.log)"
  rm -f "$run/rc"
  set +e
  timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 "${qemu_accel[@]}" -smp 2 -m 3G \
    -nodefaults -display none -no-reboot -serial stdio \
    -kernel "$vmlinuz" -initrd "$run/initramfs.gz" \
    -append "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic softlockup_panic=1 mitigations=off" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs local,path="$run",mount_tag=out,security_model=none \
    </dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$run/console.log"
  qemu_rc=${PIPESTATUS[0]}
  set -e
  guest=$(sed -n 's/^guest kernel: //p' "$run/console.log")
  rc=$(cat "$run/rc" 2>/dev/null || echo none)
  echo "=== kernel-matrix: $k -> ${guest:-did not boot} ($((SECONDS - t0))s)"
  missing=0
  for t in "${tests[@]}"; do # libtest's "test NAME ... ok|FAILED|ignored", else not run
    r=$(sed -n "s/^test $t \.\.\. \([a-zA-Z]*\).*/\1/p" "$run/console.log" | head -1)
    [[ -n $r ]] || { r="NOT RUN"; missing=1; }
    printf '  %-8s %s\n' "$r" "$t"
  done
  if grep -q 'watchdog: BUG: soft lockup' "$run/console.log"; then
    outcome=lockup
    echo "  FAILED: a CPU stuck in the guest's kernel (soft lockup); the first report:"
    sed -n '/watchdog: BUG: soft lockup/,$p' "$run/console.log" | head -80 | sed 's/^/  | /'
  elif ((qemu_rc == 124 || qemu_rc == 137)); then
    outcome=failed
    echo "  FAILED: the guest timed out after ${timeout_s}s"
  elif [[ $rc != 0 || $missing == 1 ]]; then
    outcome=failed
    if [[ -n $guest ]]; then what="tests failed"; else what="the guest did not boot"; fi
    echo "  FAILED: $what (qemu exit $qemu_rc, tests rc $rc; console: $run/console.log)"
  else
    outcome=ok
  fi
}

failed=0
lockups=0
for k in "${kernels[@]}"; do
  t0=$SECONDS
  tree=$(kernel_tree "$k")
  run=$(mktemp -d /tmp/apitop-kernel-matrix.XXXXXX)
  make_initramfs "$tree" "$run/initramfs.gz"
  { # Runs as the guest's init, on the host's root: the test binaries, then power off.
    cat <<'EOF'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
export APITOP_REQUIRE_EBPF=1 RUST_BACKTRACE=0 TERM=dumb
echo "guest kernel: $(uname -r)"
# Quiet boot, verbose tests: a lockup's or oops's stack trace reaches the console log.
echo 7 >/proc/sys/kernel/printk
cd /tmp
rc=0
EOF
    for b in "${bins[@]}"; do
      printf '%q --exact --test-threads=2' "$b"
      printf ' %q' "${tests[@]}"
      printf ' || rc=1\n'
    done
    cat <<'EOF'
echo "$rc" >/run/kernel-matrix/rc
echo o >/proc/sysrq-trigger
sleep 30 2>/dev/null
EOF
  } >"$run/guest.sh"
  vmlinuz=$(echo "$tree"/boot/vmlinuz-*)
  boot
  # A lockup (once caught under multi-threaded TCG; see `qemu_accel`) is reported above with its
  # trace and counted; the guest is booted once more so that one such run does not hide the
  # tests' result, and the second boot decides.
  if [[ $outcome == lockup ]]; then
    lockups=$((lockups + 1))
    cp "$run/console.log" "$run/console-lockup.log"
    say "booting once more after the lockup (its console: $run/console-lockup.log)"
    boot
  fi
  rm -f "$run/initramfs.gz"
  if [[ $outcome != ok ]]; then
    failed=1
  elif [[ ! -e $run/console-lockup.log ]]; then
    rm -rf "$run"
  fi
done
if ((lockups)); then say "guest kernel lockups: $lockups (traces above)"; fi
say "done in $((SECONDS - start))s"
exit $failed

#!/bin/busybox sh
# init of the boot tests' tiny root file system. It reports on the serial
# console what the boot test checks, then powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
say() { echo "$*" > /dev/ttyS0; echo "$*" > /dev/kmsg 2>/dev/null; }
# switch_root moved /dev, /proc, /sys and /run here; mount what is missing.
[ -e /proc/self ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
say "BOOTTEST-ROOT-OK: $(cat /etc/boottest-id) mounted from $(awk '$2 == "/" {print $1}' /proc/mounts | tail -n 1)"

# Did the initrd's keyunlock daemon survive switch_root?
daemon=
for c in $(grep -la '^@keyunlock' /proc/[0-9]*/cmdline 2>/dev/null); do
    p=${c%/cmdline}
    daemon="${p#/proc/} $(tr '\0' ' ' < "$c")"
done
if [ -n "$daemon" ]; then
    say "BOOTTEST-DAEMON-ALIVE: pid $daemon"
    ls -l /run/keyunlock/ > /dev/ttyS0 2>&1
    # Unlock the second volume the way systemd-cryptsetup does for a crypttab
    # entry whose key file is the daemon's socket; no prompt is expected.
    if DM_DISABLE_UDEV=1 SYSTEMD_LOG_TARGET=console /usr/lib/systemd/systemd-cryptsetup attach data /dev/vdb /run/keyunlock/luks.sock luks,headless=1,tries=1 > /dev/ttyS0 2>&1; then
        mkdir -p /mnt
        if mount -o ro -t ext4 /dev/mapper/data /mnt; then
            say "BOOTTEST-DATA-OK: $(cat /mnt/marker)"
            umount /mnt
        else
            say "BOOTTEST-DATA-FAIL: mount"
        fi
    else
        say "BOOTTEST-DATA-FAIL: systemd-cryptsetup attach failed"
    fi
else
    say "BOOTTEST-NO-DAEMON"
fi
say "BOOTTEST-DONE"
sync
poweroff -f

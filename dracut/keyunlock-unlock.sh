#!/bin/sh
# keyunlock-unlock DEVICE UUID: unlock one LUKS device with keyunlock in a
# dracut shell (non-systemd) initrd. Queued by 69-keyunlock.rules ahead of
# cryptroot-ask; on any failure it leaves the device alone and cryptroot-ask
# asks for the LUKS passphrase.
#
# Kernel arguments:
#   rd.keyunlock=0           do not use keyunlock (passphrase only)
#   rd.keyunlock.tries=N     passphrase attempts per volume with plymouth (default 3)
#   rd.keyunlock.card_wait=D how long to wait for the OpenPGP card of a volume
#                            without a soft key (KEY "-"; default 30s)

PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /lib/dracut-lib.sh

dev=$1
uuid=$2

getargbool 1 rd.keyunlock || exit 0
[ -f /etc/keyunlock/volumes ] || exit 0

# Find the volume for this device.
found=
while read -r name vdev keyfile key opts _rest || [ -n "$name" ]; do
    case "$name" in '' | \#*) continue ;; esac
    case "$vdev" in
        UUID=*) [ "${vdev#UUID=}" = "$uuid" ] && found=1 ;;
        *) [ "$(readlink -f "$vdev")" = "$(readlink -f "$dev")" ] && found=1 ;;
    esac
    [ -n "$found" ] && break
done < /etc/keyunlock/volumes
[ -n "$found" ] || exit 0
case ",$opts," in *,noauto,*) exit 0 ;; esac
[ -b "/dev/mapper/$name" ] && exit 0

[ -d /sys/module/dm_crypt ] || modprobe dm_crypt

tries=$(getarg rd.keyunlock.tries)
tries=${tries:-3}
if [ "$key" != "-" ]; then
    keyarg="--key $key"
    secret=passphrase
else
    # No soft key: an OpenPGP card. keyunlock reaches USB readers itself (no
    # pcscd in the image) and waits for the token to enumerate; the PIN is
    # asked like a passphrase.
    wait=$(getarg rd.keyunlock.card_wait)
    wait=${wait:-30s}
    keyarg="--card --card-wait $wait"
    secret=PIN
    echo "keyunlock: waiting up to $wait for the OpenPGP card of $name" > /dev/console
fi

info "keyunlock: unlocking $dev as $name with $keyfile ($keyarg)"
if type plymouth > /dev/null 2>&1 && plymouth --ping 2> /dev/null; then
    # plymouth asks; keyunlock reads the passphrase on stdin.
    plymouth ask-for-password --prompt "keyunlock: $secret for $name" \
        --number-of-tries="$tries" \
        --command="/bin/sh -c 'keyunlock decrypt $keyarg --passphrase-file /dev/stdin $keyfile | cryptsetup -d - luksOpen $dev $name'"
else
    # keyunlock prompts on the console itself (its stdin is the console
    # terminal) and asks again after a wrong passphrase. The key goes
    # through a pipe only.
    # The console is opened read-write: without a controlling terminal
    # keyunlock asks on its stdin, and writes the prompt there too.
    # shellcheck disable=SC2086
    keyunlock decrypt $keyarg "$keyfile" <> /dev/console 2> /dev/console \
        | cryptsetup -d - luksOpen "$dev" "$name"
fi

if [ -b "/dev/mapper/$name" ]; then
    info "keyunlock: $name unlocked"
    echo "keyunlock: $name unlocked" > /dev/console
else
    warn "keyunlock: could not unlock $name with keyunlock; falling back to the LUKS passphrase"
fi
exit 0

#!/bin/bash
# keyunlock dracut module: unlock LUKS volumes at boot with OpenPGP keys
# (passphrase-protected soft keys or OpenPGP cards).
#
# Installed as modules.d/91keyunlock. Configuration (see README.md, "dracut"):
#   /etc/keyunlock/volumes          one line per volume: NAME DEVICE [KEYFILE [KEY [OPTIONS]]]
#                                   KEYFILE defaults to keys/NAME.pgp, KEY ("-" = none,
#                                   e.g. cards) is a soft secret key file, OPTIONS are
#                                   crypttab options (default "luks"; "noauto" = the
#                                   daemon serves the key but the initrd does not unlock)
#   /etc/keyunlock/keys/NAME.pgp    the LUKS key of NAME, encrypted to the OpenPGP key
#   /etc/keyunlock/keys.d/          soft secret keys (KEY files land here in the image)
# dracut.conf variables (all optional):
#   keyunlock_confdir   configuration directory on the build host (/etc/keyunlock)
#   keyunlock_bin       the static keyunlock binary (first keyunlock in PATH)
#   keyunlock_unitdir   where keyunlock.socket/.service live ($systemdsystemunitdir)
#   keyunlock_usb       yes/no: install the USB host controller modules, so that
#                       keyunlock reaches a USB card directly (no pcscd needed);
#                       default: yes when serve.conf passes --card (systemd
#                       initrd) or a volume has no soft key (KEY "-", shell initrd)
# /etc/keyunlock/serve.conf (KEYUNLOCK_SERVE_ARGS="--card --card-wait 1m") is
# copied into the image when present.
#
# systemd initrd: the daemon serves the keys on /run/keyunlock/luks.sock and
# crypttab names that socket as each volume's key file.
# Shell initrd: a udev-queued job runs "keyunlock decrypt" before cryptroot-ask;
# when it fails, cryptroot-ask asks for the LUKS passphrase as usual.

# _keyunlock_conf prints the configuration directory on the build host.
_keyunlock_conf() {
    echo "${keyunlock_confdir:-/etc/keyunlock}"
}

# _keyunlock_bin prints the keyunlock binary to install, or nothing.
_keyunlock_bin() {
    if [[ -n $keyunlock_bin ]]; then
        echo "$keyunlock_bin"
    else
        command -v keyunlock 2> /dev/null || true
    fi
}

# _keyunlock_path resolves a path from the volumes file: relative paths are
# relative to the configuration directory.
_keyunlock_path() {
    case "$1" in
        /*) echo "$1" ;;
        *) echo "$(_keyunlock_conf)/$1" ;;
    esac
}

# _keyunlock_volumes prints the volumes file without comments, one volume per
# line with every field filled in: NAME DEVICE KEYFILE KEY OPTIONS.
_keyunlock_volumes() {
    local name dev keyfile key opts _
    while read -r name dev keyfile key opts _ || [[ -n $name ]]; do
        [[ -z $name || $name == \#* ]] && continue
        [[ -z $keyfile || $keyfile == - ]] && keyfile="keys/$name.pgp"
        echo "$name $dev $keyfile ${key:--} ${opts:-luks}"
    done < "$(_keyunlock_conf)/volumes"
}

check() {
    # Only on demand (dracut -a keyunlock / add_dracutmodules+=" keyunlock "),
    # or when the host has keyunlock volumes configured.
    [[ -f "$(_keyunlock_conf)/volumes" ]] && [[ -n "$(_keyunlock_bin)" ]] && return 0
    return 255
}

depends() {
    echo crypt
    return 0
}

# _keyunlock_fail stops the image build: an image that cannot unlock is worse
# than no new image.
_keyunlock_fail() {
    dfatal "keyunlock: $*"
    dfatal "keyunlock: refusing to build an initrd that could not unlock; fix the configuration in $(_keyunlock_conf) and rerun dracut"
    exit 1
}

install() {
    local conf bin name dev keyfile key opts src
    conf=$(_keyunlock_conf)
    bin=$(_keyunlock_bin)
    [[ -n $bin ]] || _keyunlock_fail "the keyunlock binary was not found (install it in PATH or set keyunlock_bin= in dracut.conf)"
    [[ -x $bin ]] || _keyunlock_fail "$bin is not an executable file"
    [[ -f $conf/volumes ]] || _keyunlock_fail "$conf/volumes is missing (one line per volume: NAME DEVICE [KEYFILE [KEY]])"
    [[ -n "$(_keyunlock_volumes)" ]] || _keyunlock_fail "$conf/volumes names no volume"

    inst_simple "$bin" /usr/bin/keyunlock || _keyunlock_fail "cannot install $bin"

    # The volumes file goes into the image with every path rewritten to where
    # the file lands in the image (/etc/keyunlock/...).
    mkdir -p "$initdir/etc/keyunlock/keys" "$initdir/etc/keyunlock/keys.d"
    : > "$initdir/etc/keyunlock/volumes"
    while read -r name dev keyfile key opts; do
        [[ $dev == UUID=* || $dev == /* ]] || _keyunlock_fail "volume $name: device $dev must be UUID=... or a path"
        src=$(_keyunlock_path "$keyfile")
        [[ -f $src ]] || _keyunlock_fail "volume $name: key file $src is missing (create it with: keyunlock encrypt ... > $src)"
        inst_simple "$src" "/etc/keyunlock/keys/$name.pgp"
        chmod 0600 "$initdir/etc/keyunlock/keys/$name.pgp"
        if [[ $key != - ]]; then
            src=$(_keyunlock_path "$key")
            [[ -f $src ]] || _keyunlock_fail "volume $name: secret key $src is missing"
            inst_simple "$src" "/etc/keyunlock/keys.d/${src##*/}"
            chmod 0600 "$initdir/etc/keyunlock/keys.d/${src##*/}"
            key="/etc/keyunlock/keys.d/${src##*/}"
        fi
        echo "$name $dev /etc/keyunlock/keys/$name.pgp $key $opts" >> "$initdir/etc/keyunlock/volumes"
    done < <(_keyunlock_volumes)

    if [[ -f $conf/serve.conf ]]; then
        inst_simple "$conf/serve.conf" /etc/keyunlock/serve.conf
    fi

    if dracut_module_included "systemd"; then
        _keyunlock_install_systemd
    else
        _keyunlock_install_shell
    fi
}

# _keyunlock_wants_usb tells whether the image needs the USB host modules
# for a card reached directly (CCID over usbfs, no pcscd).
_keyunlock_wants_usb() {
    case "${keyunlock_usb:-auto}" in
        yes) return 0 ;;
        no) return 1 ;;
    esac
    if dracut_module_included "systemd"; then
        [[ -f "$(_keyunlock_conf)/serve.conf" ]] && grep -q -- '--card' "$(_keyunlock_conf)/serve.conf"
    else
        # keyunlock-unlock uses the card for the volumes without a soft key.
        _keyunlock_volumes | awk '$4 == "-" { card = 1 } END { exit !card }'
    fi
}

installkernel() {
    # keyunlock talks to USB CCID readers itself through usbfs: the host
    # controller drivers are all it needs from the kernel. udev loads them
    # by modalias; /dev/bus/usb comes from devtmpfs.
    if _keyunlock_wants_usb; then
        hostonly='' instmods xhci_pci xhci_hcd ehci_pci ehci_hcd ohci_pci uhci_hcd usbcore
    fi
    return 0
}

# _keyunlock_install_systemd installs the daemon's units and points each
# volume's crypttab key at the daemon's socket.
_keyunlock_install_systemd() {
    local unitdir u name dev keyfile key opts
    unitdir=${keyunlock_unitdir:-$systemdsystemunitdir}
    for u in keyunlock.socket keyunlock.service; do
        [[ -f $unitdir/$u ]] || _keyunlock_fail "$unitdir/$u is missing (make install puts it there, or set keyunlock_unitdir=)"
        inst_simple "$unitdir/$u" "$systemdsystemunitdir/$u"
    done
    for u in keyunlock-agent.path keyunlock-agent.service; do
        [[ -f $unitdir/$u ]] && inst_simple "$unitdir/$u" "$systemdsystemunitdir/$u"
    done
    mkdir -p "$initdir$systemdsystemunitdir/sockets.target.wants"
    ln_r "$systemdsystemunitdir/keyunlock.socket" "$systemdsystemunitdir/sockets.target.wants/keyunlock.socket"

    # crypttab: the key file of each volume is the daemon's socket
    # (systemd-cryptsetup connects to it and reads the key, crypttab(5)).
    touch "$initdir/etc/crypttab"
    while read -r name dev keyfile key opts; do
        sed -i -e "/^[[:space:]]*${name}[[:space:]]/d" "$initdir/etc/crypttab"
        echo "$name $dev /run/keyunlock/luks.sock $opts" >> "$initdir/etc/crypttab"
    done < "$initdir/etc/keyunlock/volumes"
}

# _keyunlock_install_shell installs the udev rule and the script that unlock
# each volume before cryptroot-ask asks for a passphrase.
_keyunlock_install_shell() {
    local name dev keyfile key opts uuid
    inst_multiple readlink
    inst_script "$moddir/keyunlock-unlock.sh" /sbin/keyunlock-unlock
    inst_rules "$moddir/69-keyunlock.rules"
    # Make cryptroot-ask (the passphrase fallback) handle each volume under
    # its configured name.
    mkdir -p "$initdir/etc/cmdline.d"
    : > "$initdir/etc/cmdline.d/91keyunlock.conf"
    while read -r name dev keyfile key opts; do
        [[ ,$opts, == *,noauto,* ]] && continue
        case "$dev" in
            UUID=*)
                uuid=${dev#UUID=}
                echo "rd.luks.uuid=luks-$uuid rd.luks.name=$uuid=$name" >> "$initdir/etc/cmdline.d/91keyunlock.conf"
                ;;
        esac
    done < "$initdir/etc/keyunlock/volumes"
}

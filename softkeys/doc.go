// Package softkeys is the keyunlock backend for soft keys: OpenPGP secret key
// files (binary or ASCII-armored, one file or a directory of them), each file
// a core.Device and each secret key or subkey a core.Key.
//
// Keys stay locked until Unlock. Unlocking decrypts only the key asked for,
// with this package's own secret-key decryption: the iterated S2K runs at the
// hash's raw speed (internal/s2k), Argon2 uses every lane the parameters
// allow, and the cleartext key packet is then handed to go-crypto. GnuPG
// stubs (gnu-dummy, gnu-divert-to-card) are listed as unavailable keys that
// live on a card.
package softkeys

// Package pseudonym turns identifiers (installation id, account id) into keyed
// pseudonyms: HMAC-SHA256 under a random 256-bit key of the current epoch, truncated
// to 128 bits and prefixed with the epoch number ("e2913.Xy3…").
//
// Keys live in a directory shared by every enricher instance, one file per epoch
// (epoch-N.key), written to a temporary file and hard-linked into place, so
// concurrent instances agree on one key and none reads a half-written one. The
// directory is kept at mode 0700 and key files at 0600. An epoch lasts Period
// (default 30 days); Rotate creates the next epoch's key ahead of time and destroys
// every other key: those older than Retention epochs, and those that cannot be
// proven to belong to a kept epoch under the current Period, such as the keys left
// by an earlier period, whose epoch numbers mean other times. RotateEvery runs it
// on a timer. Once a key file is gone nobody, including the operators, can
// recompute the pseudonyms made with it, so data older than the retention can no
// longer be linked to an installation: this is what makes the pseudonyms
// destroyable, unlike a plain or salted hash of a guessable id.
//
// A destroyed key file is overwritten with zeros before it is removed. That
// erases the key where the file system writes in place (ext4, XFS, tmpfs), not on
// a copy-on-write file system, in snapshots and backups, or in blocks an SSD
// remapped: keep the key directory out of backups, and on tmpfs or an encrypted
// volume where that matters.
package pseudonym

// Package pseudonym turns identifiers (installation id, account id) into keyed
// pseudonyms: HMAC-SHA256 under a random 256-bit key of the current epoch, truncated
// to 128 bits and prefixed with the epoch number ("e2913.Xy3…").
//
// Keys live in a directory shared by every enricher instance, one file per epoch,
// written to a temporary file and hard-linked into place, so concurrent instances
// agree on one key and none reads a half-written one. An epoch lasts
// Period (default 30 days); Rotate creates the next epoch's key ahead of time and
// deletes keys older than Retention epochs. Once a key file is gone nobody, including
// the operators, can recompute the pseudonyms made with it, so data older than the
// retention can no longer be linked to an installation: this is what makes the
// pseudonyms destroyable, unlike a plain or salted hash of a guessable id.
package pseudonym

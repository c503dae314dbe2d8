// Package credential is what the collector (`producer serve`) accepts as a
// bearer token, and who each one is:
//
//   - Operator and relay tokens, configured by name and role in a tokens file
//     (ParseTokens). An operator reads and sets every installation's consent and
//     issues installation credentials; a relay, a trusted server that forwards its
//     apps' events, posts events naming any installation. The collector keeps only
//     their SHA-256 digests and compares each presented token with every digest in
//     constant time.
//   - Installation credentials, bound to one installation id: a token the
//     collector verifies without storing it, signed with HMAC-SHA256 under a
//     server secret (Keys). Its holder posts only its own installation's events
//     and reads and sets only its own consent.
//
// An installation credential reads
//
//	vi1.<installation id, base64url>.<key id>.<issued at>.<expires at>.<MAC, base64url>
//
// where the times are Unix seconds and the MAC is HMAC-SHA256, under the secret of
// <key id>, of everything before the last dot. base64url is RFC 4648's URL-safe
// alphabet without padding, so no part holds a dot. The secrets file lists
// key-id:secret pairs: the first signs new credentials and every one listed
// verifies, so a secret rotates by listing a new one after the current one on
// every collector, then moving it first, then removing the old one once its
// credentials have expired or been reissued. Removing a key revokes every
// credential it signed.
//
// Revocation is stateless too (Revocations): a revocation file names
// installations whose credentials are refused, all of them or those issued before
// a time, and RevocationFile re-reads it when it changes. The order of the
// checks never reveals more to a forger than the format: a credential's expiry
// and revocation are looked at only once its MAC verified, and the MAC is
// compared in constant time.
//
// Nothing here holds a secret on the command line: the tokens and the secrets
// come from files or the environment (config.Secret).
package credential

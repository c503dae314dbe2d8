// Package simulate generates realistic raw telemetry from a fleet of media-server
// installations: a device and platform mix, local libraries with real-looking file
// paths, file names and titles, music and photos, some hosted content (trailers,
// Live TV, DVR, ads) with catalog ids, and encodes whose bitrate and size follow from
// resolution, codec and running time. Generation is deterministic for a seed.
//
// In canary mode every identifying field (installation and account id, IP, zip code,
// device name, path, file name, library, title) carries a unique marker string, so a
// test can prove none of them survives the privacy policy.
package simulate

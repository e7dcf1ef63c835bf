package keyfile

import "hash/crc32"

// StampVersion rewrites the format version in the header b (a key file's
// first bytes) and the identity's CRC, as a key file of that version would
// carry them: for tests of what happens to key files of other versions.
func StampVersion(b []byte, v uint32) {
	le.PutUint32(b[idVersionOff:], v)
	le.PutUint32(b[identCRCOff:], crc32.Checksum(b[:identCRCOff], castagnoli))
}

package datafile

// Builder packs items into one record in a caller-provided, block-aligned
// buffer (an ioengine.Arena slice). It never allocates.
type Builder struct {
	keySize, blockSize int
	uid                [16]byte
	buf                []byte
	n                  int // payload bytes so far
	items              uint32
}

// NewBuilder returns a builder for records of one store.
func NewBuilder(uid [16]byte, keySize, blockSize int) *Builder {
	return &Builder{uid: uid, keySize: keySize, blockSize: blockSize}
}

// Reset starts a new record in buf.
func (b *Builder) Reset(buf []byte) { b.buf, b.n, b.items = buf, 0, 0 }

// PayloadLen is the payload bytes added since Reset.
func (b *Builder) PayloadLen() int { return b.n }

// Fits reports whether an item with a value of valueLen bytes fits in the
// buffer, given that the record may not grow past limit bytes (the buffer
// length always applies).
func (b *Builder) Fits(valueLen, limit int) bool {
	need := RecordSize(b.n+ItemSize(b.keySize, valueLen), b.blockSize)
	return need <= len(b.buf) && (b.items == 0 || need <= limit)
}

// Add appends an item and returns its position within the payload.
func (b *Builder) Add(key, value []byte) int {
	pos := b.n
	b.n += PutItem(b.buf[HeaderSize+b.n:], key, value)
	b.items++
	return pos
}

// Finish writes the header and hash and zeroes the padding. It returns the
// header and the record bytes (whole blocks) ready to be written at h.Offset.
func (b *Builder) Finish(hs *Hasher, h Header) (Header, []byte) {
	size := RecordSize(b.n, b.blockSize)
	clear(b.buf[HeaderSize+b.n : size])
	h.UID = b.uid
	h.Blocks = uint32(size / b.blockSize)
	h.PayloadLen = uint32(b.n)
	h.Items = b.items
	h.Hash = [32]byte{}
	h.Encode(b.buf)
	h.Hash = hs.Sum(b.buf, b.n)
	copy(b.buf[recHashOff:HeaderSize], h.Hash[:])
	return h, b.buf[:size]
}

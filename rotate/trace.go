package rotate

// What the durability trace of the tests records: the steps that change
// what a power loss would leave (the tests replay every prefix of a trace
// with every subset of the directory changes not yet synced).
const (
	opCreate   = "create"   // a generation's files were created and the directory synced
	opManifest = "manifest" // MANIFEST was renamed into place (not yet durable)
	opDirSync  = "dir-sync" // the directory was synced: renames and removals before it are durable
	opRemove   = "remove"   // one of a generation's files was removed (not yet durable)
	opCopied   = "copied"   // a rotation finished copying into gens[0]
	opGenSync  = "gen-sync" // gens[0] was synced: everything inserted into it is durable
)

type traceEvent struct {
	op   string
	why  string   // opManifest: "install", "retire" or "abandon"
	gens []uint64 // the manifest's generations, or the one generation concerned
}

// note hands ev to the test's trace, if there is one.
func (s *Set) note(ev traceEvent) {
	if s.trace != nil {
		s.trace(ev)
	}
}

// Package testfs mounts small filesystems for the tests that fill a disk,
// and measures the disk space files take. It is used by tests only.
package testfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Small mounts a small filesystem of the given kind ("ext4" on a loop
// image, or "tmpfs") of size bytes and unmounts it when the test ends. It
// skips, with the reason, where that cannot be done (not root, no
// mkfs.ext4, mount refused).
func Small(t testing.TB, kind string, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small filesystem")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	switch kind {
	case "tmpfs":
		cmd = exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", mnt)
	case "ext4":
		img := filepath.Join(dir, "fs.img")
		if err := os.WriteFile(img, nil, 0o644); err != nil || os.Truncate(img, size) != nil {
			t.Fatal("cannot make the image")
		}
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
			t.Skipf("mkfs.ext4: %v: %s", err, out)
		}
		cmd = exec.Command("mount", "-o", "loop", img, mnt)
	default:
		t.Fatalf("testfs: unknown kind %q", kind)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("mount %s: %v: %s", kind, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// DirAllocated is the disk space the entries of dir take, in bytes of
// allocated blocks (what a test that gives space back compares).
func DirAllocated(t testing.TB, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, e.Name()), &st) == nil {
			n += st.Blocks * 512
		}
	}
	return n
}
